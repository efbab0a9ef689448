//! CloudTrail records: trails (deduplicated across the regions that show
//! them), whether each is logging and what it records, and the monitoring
//! built on the log groups they deliver to (metric filters, alarms, topics).

use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CloudTrailInventory {
    pub trails: Vec<Trail>,
    /// The metric filters of each log group a trail delivers to (only the
    /// groups whose filters could be read).
    #[serde(default)]
    pub log_groups: Vec<TrailLogGroup>,
    /// The alarms on the metrics of those filters that watch what a
    /// benchmark control names.
    #[serde(default)]
    pub alarms: Vec<MetricAlarm>,
    /// How many confirmed subscribers each topic those alarms notify has.
    #[serde(default)]
    pub topics: Vec<TopicSubscribers>,
    /// Metrics whose alarms could not be read: (region, namespace, name).
    #[serde(default)]
    pub unread_metrics: Vec<(String, String, String)>,
    /// Topics whose attributes could not be read.
    #[serde(default)]
    pub unread_topics: Vec<String>,
}

/// A CloudWatch Logs group a trail delivers to, and its metric filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrailLogGroup {
    /// As the trail names it (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`).
    pub arn: String,
    pub region: String,
    pub name: String,
    /// `false` when CloudWatch Logs said the group does not exist.
    #[serde(default = "yes")]
    pub exists: bool,
    pub filters: Vec<MetricFilter>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilter {
    pub name: String,
    pub pattern: String,
    /// The metrics it publishes to: (namespace, metric name).
    pub metrics: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAlarm {
    pub region: String,
    pub name: String,
    pub namespace: String,
    pub metric_name: String,
    pub actions_enabled: bool,
    /// What it does in the ALARM state (SNS topic ARNs among others).
    pub alarm_actions: Vec<String>,
    /// `GreaterThanOrEqualToThreshold` and the like; `None` when AWS gave
    /// none.
    #[serde(default)]
    pub comparison: Option<String>,
}

impl MetricAlarm {
    /// Whether a rising count can put the alarm in ALARM: a "less than"
    /// comparison (or an anomaly band) does not watch for events.
    pub fn fires_on_events(&self) -> bool {
        matches!(
            self.comparison.as_deref(),
            Some("GreaterThanOrEqualToThreshold" | "GreaterThanThreshold")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicSubscribers {
    pub arn: String,
    /// Subscriptions that were confirmed (a pending one delivers nothing).
    pub confirmed: usize,
    /// The topic's KMS key, if it is encrypted.
    #[serde(default)]
    pub kms_key: Option<String>,
}

impl TopicSubscribers {
    /// Whether an alarm's notification reaches a subscriber: someone
    /// confirmed, and the topic is not encrypted with the AWS managed key
    /// `alias/aws/sns`, whose policy CloudWatch cannot use (notifications
    /// are dropped).
    pub fn is_heard(&self) -> bool {
        self.confirmed > 0
            && !self
                .kms_key
                .as_deref()
                .is_some_and(|k| k.ends_with("alias/aws/sns"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trail {
    pub meta: ResourceMeta,
    pub home_region: String,
    pub is_multi_region: bool,
    pub log_file_validation: bool,
    pub is_organization_trail: bool,
    pub s3_bucket: Option<String>,
    /// From `GetTrailStatus`; `None` when that call failed.
    pub is_logging: Option<bool>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// The CloudWatch Logs group it delivers to, if any.
    #[serde(default)]
    pub log_group_arn: Option<String>,
    /// From `GetEventSelectors`; `None` when that call failed.
    #[serde(default)]
    pub selectors: Option<EventSelectors>,
    /// `GetTrailStatus`'s latest error delivering to CloudWatch Logs.
    #[serde(default)]
    pub logs_delivery_error: Option<String>,
    /// Whether the trail's bucket logs access to itself; `None` when not
    /// read (another account's bucket, or a failed call).
    #[serde(default)]
    pub bucket_logging: Option<bool>,
}

/// What a trail records: basic or advanced event selectors (a trail has one
/// kind or the other).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventSelectors {
    pub basic: Vec<BasicSelector>,
    pub advanced: Vec<AdvancedSelector>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicSelector {
    /// `All`, `ReadOnly` or `WriteOnly`.
    pub read_write_type: String,
    pub include_management_events: bool,
    /// Management event sources left out (`kms.amazonaws.com`, ...).
    pub exclude_management_event_sources: Vec<String>,
    /// (type, values): `("AWS::S3::Object", ["arn:aws:s3"])`.
    pub data_resources: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvancedSelector {
    pub name: Option<String>,
    pub fields: Vec<FieldSelector>,
}

/// One condition of an advanced selector: every operator it sets must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub not_equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// Which of reads and writes a trail records, for one kind of event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub reads: bool,
    pub writes: bool,
}

impl Recorded {
    pub fn all(self) -> bool {
        self.reads && self.writes
    }

    fn add(&mut self, other: Recorded) {
        self.reads |= other.reads;
        self.writes |= other.writes;
    }

    fn of_read_write_type(kind: &str) -> Recorded {
        Recorded {
            reads: matches!(kind, "All" | "ReadOnly"),
            writes: matches!(kind, "All" | "WriteOnly"),
        }
    }
}

impl FieldSelector {
    /// Whether this condition is exactly `field Equals [value]`.
    fn is_only(&self, value: &str) -> bool {
        self.equals == [value]
            && self.not_equals.is_empty()
            && self.starts_with.is_empty()
            && self.not_starts_with.is_empty()
            && self.ends_with.is_empty()
            && self.not_ends_with.is_empty()
    }

    /// The reads and writes a `readOnly` condition lets through.
    fn read_only(&self) -> Option<Recorded> {
        if self.is_only("true") {
            Some(Recorded {
                reads: true,
                writes: false,
            })
        } else if self.is_only("false") {
            Some(Recorded {
                reads: false,
                writes: true,
            })
        } else {
            None
        }
    }
}

impl AdvancedSelector {
    /// What the selector records of events in `category` for which the
    /// extra condition `resource_type` (if given) holds, counting only
    /// selectors that narrow by nothing else: one that names event sources,
    /// event names or resource ARNs records a part, and a part is not read
    /// as the whole.
    fn records(&self, category: &str, resource_type: Option<&str>) -> Recorded {
        let mut category_ok = false;
        let mut type_ok = resource_type.is_none();
        let mut recorded = Recorded {
            reads: true,
            writes: true,
        };
        for f in &self.fields {
            match f.field.as_str() {
                "eventCategory" if f.is_only(category) => category_ok = true,
                "resources.type" if resource_type.is_some_and(|t| f.is_only(t)) => type_ok = true,
                "readOnly" => match f.read_only() {
                    Some(r) => recorded = r,
                    None => return Recorded::default(),
                },
                // Leaving sources out of management events is judged apart
                // (excluded_sources); any other narrowing is a part.
                "eventSource"
                    if category == "Management"
                        && !f.not_equals.is_empty()
                        && f.equals.is_empty()
                        && f.starts_with.is_empty()
                        && f.not_starts_with.is_empty()
                        && f.ends_with.is_empty()
                        && f.not_ends_with.is_empty() => {}
                _ => return Recorded::default(),
            }
        }
        if category_ok && type_ok {
            recorded
        } else {
            Recorded::default()
        }
    }
}

impl EventSelectors {
    /// The management events recorded. Sources left out (KMS, RDS Data)
    /// do not change this, as CIS 3.1 judges it; [`Self::excluded_sources`]
    /// says which are.
    pub fn management_events(&self) -> Recorded {
        let mut recorded = Recorded::default();
        for b in &self.basic {
            if b.include_management_events {
                recorded.add(Recorded::of_read_write_type(&b.read_write_type));
            }
        }
        for a in &self.advanced {
            recorded.add(a.records("Management", None));
        }
        recorded
    }

    /// Management event sources left out: those every selector that
    /// records management events leaves out (a source one selector leaves
    /// out and another records is recorded).
    pub fn excluded_sources(&self) -> Vec<String> {
        let mut lists: Vec<Vec<String>> = Vec::new();
        for b in self.basic.iter().filter(|b| b.include_management_events) {
            lists.push(b.exclude_management_event_sources.clone());
        }
        for a in &self.advanced {
            if a.records("Management", None) != Recorded::default() {
                lists.push(
                    a.fields
                        .iter()
                        .filter(|f| f.field == "eventSource")
                        .flat_map(|f| f.not_equals.iter().cloned())
                        .collect(),
                );
            }
        }
        let Some((first, rest)) = lists.split_first() else {
            return Vec::new();
        };
        first
            .iter()
            .filter(|s| rest.iter().all(|l| l.contains(s)))
            .cloned()
            .collect()
    }

    /// The S3 object-level (data) events recorded for every bucket in the
    /// partition: a selector for named buckets only does not count.
    pub fn s3_object_events(&self, partition: &str) -> Recorded {
        let every_bucket = [
            format!("arn:{partition}:s3"),
            format!("arn:{partition}:s3:::"),
        ];
        let mut recorded = Recorded::default();
        for b in &self.basic {
            let all_buckets = b.data_resources.iter().any(|(kind, values)| {
                kind == "AWS::S3::Object" && values.iter().any(|v| every_bucket.contains(v))
            });
            if all_buckets {
                recorded.add(Recorded::of_read_write_type(&b.read_write_type));
            }
        }
        for a in &self.advanced {
            recorded.add(a.records("Data", Some("AWS::S3::Object")));
        }
        recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(rw: &str, management: bool, data: &[(&str, &[&str])]) -> BasicSelector {
        BasicSelector {
            read_write_type: rw.into(),
            include_management_events: management,
            exclude_management_event_sources: Vec::new(),
            data_resources: data
                .iter()
                .map(|(t, v)| ((*t).into(), v.iter().map(|s| (*s).into()).collect()))
                .collect(),
        }
    }

    fn field(name: &str, equals: &[&str]) -> FieldSelector {
        FieldSelector {
            field: name.into(),
            equals: equals.iter().map(|s| (*s).into()).collect(),
            ..FieldSelector::default()
        }
    }

    fn advanced(fields: Vec<FieldSelector>) -> AdvancedSelector {
        AdvancedSelector { name: None, fields }
    }

    const ALL: Recorded = Recorded {
        reads: true,
        writes: true,
    };
    const WRITES: Recorded = Recorded {
        reads: false,
        writes: true,
    };
    const NONE: Recorded = Recorded {
        reads: false,
        writes: false,
    };

    #[test]
    fn management_events_are_all_only_when_reads_and_writes_from_every_source_are_kept() {
        let of = |basic: Vec<BasicSelector>, advanced: Vec<AdvancedSelector>| {
            EventSelectors { basic, advanced }.management_events()
        };
        assert_eq!(of(vec![basic("All", true, &[])], vec![]), ALL);
        assert_eq!(of(vec![basic("WriteOnly", true, &[])], vec![]), WRITES);
        assert_eq!(of(vec![basic("All", false, &[])], vec![]), NONE);
        // Leaving KMS out still records management events (CIS 3.1); the
        // source is listed as left out.
        let mut no_kms = basic("All", true, &[]);
        no_kms.exclude_management_event_sources = vec!["kms.amazonaws.com".into()];
        assert_eq!(of(vec![no_kms.clone()], vec![]), ALL);
        let excluded = |basic: Vec<BasicSelector>, advanced: Vec<AdvancedSelector>| {
            EventSelectors { basic, advanced }.excluded_sources()
        };
        assert_eq!(
            excluded(vec![no_kms.clone()], vec![]),
            ["kms.amazonaws.com"]
        );
        // Another selector that records KMS puts it back.
        assert!(excluded(vec![no_kms, basic("WriteOnly", true, &[])], vec![]).is_empty());
        // Nothing configured records nothing.
        assert_eq!(of(vec![], vec![]), NONE);

        let management = || field("eventCategory", &["Management"]);
        assert_eq!(of(vec![], vec![advanced(vec![management()])]), ALL);
        // Reads in one selector, writes in another: all of them.
        assert_eq!(
            of(
                vec![],
                vec![
                    advanced(vec![management(), field("readOnly", &["true"])]),
                    advanced(vec![management(), field("readOnly", &["false"])]),
                ]
            ),
            ALL
        );
        // Leaving an event source out is listed apart; naming the only
        // sources recorded is a part, not the whole.
        let mut not_kms = field("eventSource", &[]);
        not_kms.not_equals = vec!["kms.amazonaws.com".into()];
        assert_eq!(
            of(vec![], vec![advanced(vec![management(), not_kms.clone()])]),
            ALL
        );
        assert_eq!(
            excluded(vec![], vec![advanced(vec![management(), not_kms])]),
            ["kms.amazonaws.com"]
        );
        let only_iam = field("eventSource", &["iam.amazonaws.com"]);
        assert_eq!(
            of(vec![], vec![advanced(vec![management(), only_iam])]),
            NONE
        );
    }

    #[test]
    fn s3_object_events_count_only_when_every_bucket_is_covered() {
        let of = |basic: Vec<BasicSelector>, advanced: Vec<AdvancedSelector>| {
            EventSelectors { basic, advanced }.s3_object_events("aws")
        };
        assert_eq!(
            of(
                vec![basic("All", true, &[("AWS::S3::Object", &["arn:aws:s3"])])],
                vec![]
            ),
            ALL
        );
        assert_eq!(
            of(
                vec![basic(
                    "WriteOnly",
                    true,
                    &[("AWS::S3::Object", &["arn:aws:s3:::"])]
                )],
                vec![]
            ),
            WRITES
        );
        assert_eq!(
            of(
                vec![basic(
                    "All",
                    true,
                    &[("AWS::S3::Object", &["arn:aws:s3:::one-bucket/"])]
                )],
                vec![]
            ),
            NONE
        );
        let data = || field("eventCategory", &["Data"]);
        let objects = || field("resources.type", &["AWS::S3::Object"]);
        assert_eq!(of(vec![], vec![advanced(vec![data(), objects()])]), ALL);
        assert_eq!(
            of(
                vec![],
                vec![advanced(vec![
                    data(),
                    objects(),
                    field("readOnly", &["false"])
                ])]
            ),
            WRITES
        );
        let mut one_bucket = field("resources.ARN", &[]);
        one_bucket.starts_with = vec!["arn:aws:s3:::one-bucket/".into()];
        assert_eq!(
            of(vec![], vec![advanced(vec![data(), objects(), one_bucket])]),
            NONE
        );
        // Lambda data events are not S3's.
        assert_eq!(
            of(
                vec![],
                vec![advanced(vec![
                    data(),
                    field("resources.type", &["AWS::Lambda::Function"])
                ])]
            ),
            NONE
        );
    }
}
