//! The `sightline serve` settings of Ask's model: which profile, which
//! model, where, with which key, under which budgets. Only wiring: the
//! providers are in `sightline-llm` (OpenAI, Anthropic) and
//! `sightline-aws` (Bedrock Converse, the key in Secrets Manager); the
//! pipeline is `sightline_store::assistant`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use sightline_core::llm::{KeySource, Model};
use sightline_store::assistant::{Assistant, Budgets, DataPolicy};
use sightline_web::AskModel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// The question library only: no model, nothing leaves the deployment.
    None,
    /// Amazon Bedrock's Converse API, signed by the task role.
    Bedrock,
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI chat completions, or any compatible server (vLLM, Ollama).
    Openai,
}

#[derive(Args)]
pub struct AskModelArgs {
    /// Ask's model profile.
    #[arg(
        long,
        env = "SIGHTLINE_ASK_PROFILE",
        value_enum,
        default_value = "none"
    )]
    pub ask_profile: Profile,
    /// The model id (a Bedrock model or inference-profile id, an Anthropic or OpenAI model name).
    #[arg(long, env = "SIGHTLINE_ASK_MODEL")]
    pub ask_model: Option<String>,
    /// The provider's base URL (openai: default https://api.openai.com/v1, or an
    /// OpenAI-compatible server in the VPC; anthropic: default https://api.anthropic.com;
    /// bedrock: an endpoint override such as a VPC endpoint's DNS name).
    #[arg(long, env = "SIGHTLINE_ASK_BASE_URL")]
    pub ask_base_url: Option<String>,
    /// bedrock: the model's region (default: the task's region).
    #[arg(long, env = "SIGHTLINE_ASK_REGION")]
    pub ask_region: Option<String>,
    /// Secrets Manager id of the provider's API key (openai, anthropic).
    #[arg(long, env = "SIGHTLINE_ASK_KEY_SECRET_ID", conflicts_with = "ask_key")]
    pub ask_key_secret_id: Option<String>,
    /// The provider's API key itself (development only; prefer the secret).
    #[arg(long, env = "SIGHTLINE_ASK_KEY", hide_env_values = true)]
    pub ask_key: Option<String>,
    /// Seconds the key read from Secrets Manager is kept: a rotated key takes effect within it.
    #[arg(long, env = "SIGHTLINE_ASK_KEY_TTL", default_value_t = 300)]
    pub ask_key_ttl: u64,
    /// What the model may see in a workspace whose admins chose nothing:
    /// schema-only or rows (default: rows for bedrock, schema-only otherwise).
    #[arg(long, env = "SIGHTLINE_ASK_DEFAULT_POLICY")]
    pub ask_default_policy: Option<String>,
    /// Questions to the model per user (or API key) per minute.
    #[arg(long, env = "SIGHTLINE_ASK_PER_USER_PER_MINUTE", default_value_t = 6)]
    pub ask_per_user_per_minute: u32,
    /// Tokens (input and output) one question may spend.
    #[arg(long, env = "SIGHTLINE_ASK_QUESTION_TOKENS", default_value_t = Budgets::default().question_tokens)]
    pub ask_question_tokens: u64,
    /// Tokens one workspace may spend in a calendar month (UTC).
    #[arg(long, env = "SIGHTLINE_ASK_MONTHLY_TOKENS", default_value_t = Budgets::default().monthly_tokens)]
    pub ask_monthly_tokens: u64,
    /// Seconds one model call may take.
    #[arg(long, env = "SIGHTLINE_ASK_MODEL_TIMEOUT", default_value_t = Budgets::default().model_timeout.as_secs())]
    pub ask_model_timeout: u64,
    /// Seconds a whole question may take (under the server's 30 s request timeout).
    #[arg(long, env = "SIGHTLINE_ASK_QUESTION_TIMEOUT", default_value_t = Budgets::default().question_timeout.as_secs())]
    pub ask_question_timeout: u64,
}

impl std::fmt::Debug for AskModelArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskModelArgs")
            .field("ask_profile", &self.ask_profile)
            .field("ask_model", &self.ask_model)
            .field("ask_base_url", &self.ask_base_url)
            .field("ask_key_secret_id", &self.ask_key_secret_id)
            .field("ask_key", &self.ask_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl AskModelArgs {
    fn key(&self, session: Option<&sightline_aws::AwsSession>) -> Result<Arc<dyn KeySource>> {
        match (&self.ask_key, &self.ask_key_secret_id, session) {
            (Some(key), _, _) => Ok(Arc::new(sightline_llm::StaticKey::new(key.clone()))),
            (None, Some(id), Some(session)) => Ok(Arc::new(sightline_aws::secrets::SecretKey::new(
                session.clone(),
                id.clone(),
                Duration::from_secs(self.ask_key_ttl),
            ))),
            _ => bail!(
                "Ask profile {:?}: expected the API key's secret (SIGHTLINE_ASK_KEY_SECRET_ID) or, in development, SIGHTLINE_ASK_KEY",
                self.ask_profile
            ),
        }
    }

    /// The model the server asks, or `None` for profile `none`.
    pub async fn build(&self) -> Result<Option<AskModel>> {
        if self.ask_profile == Profile::None {
            return Ok(None);
        }
        let Some(model_id) = self.ask_model.as_deref() else {
            bail!(
                "Ask profile {:?}: expected a model id (SIGHTLINE_ASK_MODEL)",
                self.ask_profile
            );
        };
        let default_policy = self
            .ask_default_policy
            .as_deref()
            .map(DataPolicy::parse)
            .transpose()
            .context("SIGHTLINE_ASK_DEFAULT_POLICY")?;
        let budgets = Budgets {
            question_tokens: self.ask_question_tokens,
            monthly_tokens: self.ask_monthly_tokens,
            model_timeout: Duration::from_secs(self.ask_model_timeout.max(1)),
            question_timeout: Duration::from_secs(self.ask_question_timeout.max(1)),
            ..Budgets::default()
        };
        let needs_aws = self.ask_profile == Profile::Bedrock || self.ask_key_secret_id.is_some();
        let session = if needs_aws {
            Some(
                sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default())
                    .await
                    .context("Ask: AWS credentials for the model or its key")?,
            )
        } else {
            None
        };
        let model: Arc<dyn Model> = match self.ask_profile {
            Profile::None => unreachable!("returned above"),
            Profile::Bedrock => {
                let session = session.as_ref().expect("connected for bedrock");
                // The task's own region (AWS_REGION), as the flag says.
                let region = self
                    .ask_region
                    .clone()
                    .or_else(|| session.config.region().map(|r| r.to_string()))
                    .unwrap_or_else(|| session.home_region());
                // An endpoint override carries the rows too: HTTPS, or loopback.
                let endpoint = self
                    .ask_base_url
                    .as_deref()
                    .map(sightline_llm::check_base_url)
                    .transpose()?;
                Arc::new(sightline_aws::converse::Converse::new(
                    session,
                    &region,
                    endpoint.as_deref(),
                    model_id,
                    budgets.model_timeout,
                ))
            }
            Profile::Anthropic => Arc::new(sightline_llm::Anthropic::new(
                self.ask_base_url
                    .as_deref()
                    .unwrap_or(sightline_llm::anthropic::DEFAULT_BASE_URL),
                model_id,
                self.key(session.as_ref())?,
            )?),
            Profile::Openai => Arc::new(sightline_llm::OpenAi::new(
                self.ask_base_url
                    .as_deref()
                    .unwrap_or(sightline_llm::openai::DEFAULT_BASE_URL),
                model_id,
                self.key(session.as_ref())?,
            )?),
        };
        Ok(Some(AskModel {
            assistant: Assistant {
                model,
                budgets,
                default_policy,
            },
            questions_per_user_per_minute: self.ask_per_user_per_minute.max(1),
        }))
    }
}
