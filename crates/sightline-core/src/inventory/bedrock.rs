//! Amazon Bedrock, per region: where its model invocations are logged.
//! Never a prompt, a response or a model's output: only the account's
//! logging settings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BedrockInventory {
    /// The regions whose logging settings were read. A region missing here
    /// was not read (its gap says why) or does not offer Bedrock.
    pub regions: Vec<BedrockRegion>,
    /// Regions where Bedrock has no endpoint: nothing there to log.
    #[serde(default)]
    pub not_offered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedrockRegion {
    pub region: String,
    /// `None`: no model invocation logging here.
    pub logging: Option<InvocationLogging>,
}

/// Where model invocations are logged, and which kinds of data go there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationLogging {
    pub cloudwatch_log_group: Option<String>,
    pub s3_bucket: Option<String>,
    pub text_data: bool,
    pub image_data: bool,
    pub embedding_data: bool,
    #[serde(default)]
    pub video_data: bool,
}

impl InvocationLogging {
    /// Whether invocations go anywhere at all: a configuration without a
    /// destination logs nothing.
    pub fn has_destination(&self) -> bool {
        self.cloudwatch_log_group.is_some() || self.s3_bucket.is_some()
    }
}
