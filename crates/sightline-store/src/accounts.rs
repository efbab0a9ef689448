//! Workspaces and the AWS accounts they scan. Input is checked here, before
//! any write, so a bad account id or role ARN never reaches a table.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::error::unique_violation;
use crate::{Store, StoreError};

#[derive(Debug, Clone, FromRow)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub external_id: String,
    pub member_role_name: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct Account {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub aws_account_id: String,
    pub name: Option<String>,
    /// `None`: scanned with the worker's own credentials, when
    /// `own_credentials` says an operator registered it so.
    pub role_arn: Option<String>,
    pub regions: Vec<String>,
    pub next_scan_at: Option<DateTime<Utc>>,
    pub source: String,
    /// Registered by an operator (CLI, setup, demo) without a role, to be
    /// scanned with the worker's own credentials. The server can never set it.
    pub own_credentials: bool,
}

/// A new account to register.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub aws_account_id: String,
    pub name: Option<String>,
    /// Assumed with the workspace's ExternalId; an account has none of its own.
    pub role_arn: Option<String>,
    pub regions: Vec<String>,
    /// PostgreSQL interval text, e.g. `6 hours`.
    pub schedule: Option<String>,
}

/// What discovery gives the members it registers: the regions to scan
/// (empty: every enabled region) and a schedule as PostgreSQL interval text.
/// A scheduled member is due at once, so the next round scans it.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryDefaults {
    pub regions: Vec<String>,
    pub schedule: Option<String>,
}

/// An insert's error, naming the schedule when PostgreSQL refused it: bad
/// interval text, or an interval under the five-minute minimum.
fn schedule_error(e: sqlx::Error, schedule: &Option<String>) -> StoreError {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    match code.as_deref() {
        Some("22007") | Some("22P02") | Some("23514") => StoreError::InvalidSchedule {
            found: schedule.clone().unwrap_or_default(),
        },
        _ => e.into(),
    }
}

/// Every region named as AWS names them; the first that is not, refused.
fn check_regions(regions: &[String]) -> Result<(), StoreError> {
    match regions
        .iter()
        .find(|r| !sightline_core::names::is_region_name(r))
    {
        Some(bad) => Err(StoreError::InvalidRegion { found: bad.clone() }),
        None => Ok(()),
    }
}

pub fn check_account_id(id: &str) -> Result<(), StoreError> {
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::InvalidAccountId {
            found: id.to_owned(),
        })
    }
}

/// The account id inside a role ARN, if the ARN has the right shape.
pub fn role_arn_account(arn: &str) -> Result<String, StoreError> {
    let bad = || StoreError::InvalidRoleArn {
        found: arn.to_owned(),
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let ok = *prefix == "arn"
        && partition.starts_with("aws")
        && *service == "iam"
        && region.is_empty()
        && check_account_id(account).is_ok()
        && resource
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if ok {
        Ok((*account).to_owned())
    } else {
        Err(bad())
    }
}

impl Account {
    /// The role this account is scanned through; `None` for the worker's
    /// own credentials, which only an operator's registration allows. A
    /// role-less account the operator did not register so (a row from
    /// before `own_credentials`) is refused, never scanned as the worker.
    pub fn scan_role(&self) -> Result<Option<&str>, StoreError> {
        match (&self.role_arn, self.own_credentials) {
            (Some(arn), _) => Ok(Some(arn)),
            (None, true) => Ok(None),
            (None, false) => Err(StoreError::InvalidInput {
                field: "account role ARN",
                expected: "a monitoring role ARN, or an operator's registration without one \
                           (`sightline account add` without --role-arn) to scan with the worker's own credentials"
                    .into(),
                found: format!("account {} has no role and no such registration", self.aws_account_id),
            }),
        }
    }
}

impl NewAccount {
    /// Check the fields before anything is written.
    pub fn validate(&self) -> Result<(), StoreError> {
        check_account_id(&self.aws_account_id)?;
        check_regions(&self.regions)?;
        if let Some(arn) = &self.role_arn {
            let role_account = role_arn_account(arn)?;
            if role_account != self.aws_account_id {
                return Err(StoreError::RoleAccountMismatch {
                    role_arn: arn.clone(),
                    role_account,
                    aws_account_id: self.aws_account_id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// An IAM role name: 1 to 64 of letters, digits and `+=,.@_-`.
fn check_role_name(name: &str) -> Result<(), StoreError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidWorkspace {
            what: "member role name",
            expected: "an IAM role name: 1 to 64 letters, digits or +=,.@_-",
            found: name.to_owned(),
        })
    }
}

fn check_workspace(name: &str, external_id: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(StoreError::InvalidWorkspace {
            what: "name",
            expected: "1 to 100 characters",
            found: name.to_owned(),
        });
    }
    // STS accepts ExternalIds of 2 to 1224 characters.
    if !(2..=1224).contains(&external_id.len()) {
        return Err(StoreError::InvalidWorkspace {
            what: "ExternalId",
            expected: "2 to 1224 characters",
            found: external_id.to_owned(),
        });
    }
    Ok(())
}

impl Store {
    pub async fn create_workspace(
        &self,
        name: &str,
        external_id: &str,
    ) -> Result<Workspace, StoreError> {
        check_workspace(name, external_id)?;
        sqlx::query_as("INSERT INTO workspaces (name, external_id) VALUES ($1, $2) RETURNING id, name, external_id, member_role_name")
            .bind(name)
            .bind(external_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::DuplicateWorkspace { name: name.to_owned() },
                None => e.into(),
            })
    }

    /// The workspace with this id, created if missing; its name, ExternalId
    /// and member role name are set to these (a deployment's parameters win
    /// on every start).
    pub async fn ensure_workspace(
        &self,
        id: Uuid,
        name: &str,
        external_id: &str,
        member_role_name: &str,
    ) -> Result<Workspace, StoreError> {
        check_workspace(name, external_id)?;
        check_role_name(member_role_name)?;
        sqlx::query_as(
            "INSERT INTO workspaces (id, name, external_id, member_role_name) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, external_id = EXCLUDED.external_id, \
                 member_role_name = EXCLUDED.member_role_name \
             RETURNING id, name, external_id, member_role_name",
        )
        .bind(id)
        .bind(name)
        .bind(external_id)
        .bind(member_role_name)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::DuplicateWorkspace { name: name.to_owned() },
            None => e.into(),
        })
    }

    pub async fn workspace_by_name(&self, name: &str) -> Result<Workspace, StoreError> {
        sqlx::query_as(
            "SELECT id, name, external_id, member_role_name FROM workspaces WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "workspace",
            id: name.to_owned(),
        })
    }

    /// Register an account, as the operator; a duplicate or malformed one is
    /// refused and nothing is written. One without a role ARN is scanned
    /// with the worker's own credentials. Registering again, without a role,
    /// an account whose role-less row predates `own_credentials` (and so is
    /// refused by the worker) is how the operator vouches for it: the row is
    /// kept, with its history, and its schedule set again.
    pub async fn add_account(
        &self,
        workspace: &Workspace,
        account: &NewAccount,
    ) -> Result<Account, StoreError> {
        account.validate()?;
        let result = sqlx::query_as(
            "INSERT INTO accounts (workspace_id, aws_account_id, name, role_arn, regions, schedule_interval, next_scan_at, own_credentials)
             VALUES ($1, $2, $3, $4, $5, $6::interval, CASE WHEN $6::interval IS NULL THEN NULL ELSE now() END, $4 IS NULL)
             ON CONFLICT (workspace_id, aws_account_id) DO UPDATE
                 SET own_credentials = true,
                     name = coalesce(excluded.name, accounts.name),
                     regions = excluded.regions,
                     schedule_interval = excluded.schedule_interval,
                     next_scan_at = excluded.next_scan_at
                 WHERE accounts.role_arn IS NULL AND NOT accounts.own_credentials AND excluded.role_arn IS NULL
             RETURNING id, workspace_id, aws_account_id, name, role_arn, regions, next_scan_at, source, own_credentials",
        )
        .bind(workspace.id)
        .bind(&account.aws_account_id)
        .bind(&account.name)
        .bind(&account.role_arn)
        .bind(&account.regions)
        .bind(&account.schedule)
        .fetch_optional(&self.pool)
        .await;
        let duplicate = || StoreError::DuplicateAccount {
            workspace: workspace.name.clone(),
            aws_account_id: account.aws_account_id.clone(),
        };
        match result {
            Ok(Some(added)) => Ok(added),
            // The account exists and is not one to vouch for.
            Ok(None) => Err(duplicate()),
            Err(e) if unique_violation(&e).is_some() => Err(duplicate()),
            Err(e) => Err(schedule_error(e, &account.schedule)),
        }
    }

    /// Register the members of an organization, each through the workspace's
    /// member role in the organization's partition (`aws`, `aws-cn`,
    /// `aws-us-gov`), with `defaults`' regions and schedule; accounts already
    /// registered are left as they are. A bad region or interval refuses the
    /// whole batch. Returns the accounts newly added.
    pub async fn add_discovered_accounts(
        &self,
        workspace: &Workspace,
        partition: &str,
        members: &[(String, Option<String>)],
        defaults: &DiscoveryDefaults,
    ) -> Result<Vec<String>, StoreError> {
        let valid_partition = partition.starts_with("aws")
            && partition.len() <= 20
            && partition
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-');
        if !valid_partition {
            return Err(StoreError::InvalidRoleArn {
                found: format!(
                    "arn:{partition}:iam::<account>:role/{}",
                    workspace.member_role_name
                ),
            });
        }
        for (id, _) in members {
            check_account_id(id)?;
        }
        check_regions(&defaults.regions)?;
        // Checked here, not only by the insert, which checks nothing when
        // every member is registered already.
        if let Some(schedule) = &defaults.schedule {
            let at_least_the_minimum: bool =
                sqlx::query_scalar("SELECT $1::interval >= interval '5 minutes'")
                    .bind(schedule)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| schedule_error(e, &defaults.schedule))?;
            if !at_least_the_minimum {
                return Err(StoreError::InvalidSchedule {
                    found: schedule.clone(),
                });
            }
        }
        let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
        let names: Vec<Option<&str>> = members.iter().map(|(_, name)| name.as_deref()).collect();
        sqlx::query_scalar(
            "INSERT INTO accounts (workspace_id, aws_account_id, name, role_arn, source, regions, schedule_interval, next_scan_at)
             SELECT $1, m.id, m.name, 'arn:' || $5 || ':iam::' || m.id || ':role/' || $2, 'organizations',
                    $6, $7::interval, CASE WHEN $7::interval IS NULL THEN NULL ELSE now() END
             FROM UNNEST($3::text[], $4::text[]) AS m(id, name)
             ON CONFLICT (workspace_id, aws_account_id) DO NOTHING
             RETURNING aws_account_id",
        )
        .bind(workspace.id)
        .bind(&workspace.member_role_name)
        .bind(&ids)
        .bind(&names)
        .bind(partition)
        .bind(&defaults.regions)
        .bind(&defaults.schedule)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| schedule_error(e, &defaults.schedule))
    }

    pub async fn workspace_external_id(&self, workspace_id: Uuid) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT external_id FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "workspace",
                id: workspace_id.to_string(),
            })
    }

    pub async fn accounts(&self, workspace_id: Uuid) -> Result<Vec<Account>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, workspace_id, aws_account_id, name, role_arn, regions, next_scan_at, source, own_credentials
             FROM accounts WHERE workspace_id = $1 ORDER BY aws_account_id",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn account(&self, id: Uuid) -> Result<Account, StoreError> {
        sqlx::query_as(
            "SELECT id, workspace_id, aws_account_id, name, role_arn, regions, next_scan_at, source, own_credentials
             FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "account",
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_operators_role_less_account_is_scanned_with_the_workers_credentials() {
        let account = |role_arn: Option<&str>, own_credentials| Account {
            id: Uuid::nil(),
            workspace_id: Uuid::nil(),
            aws_account_id: "123456789012".into(),
            name: None,
            role_arn: role_arn.map(str::to_owned),
            regions: vec![],
            next_scan_at: None,
            source: "manual".into(),
            own_credentials,
        };
        let role = "arn:aws:iam::123456789012:role/SightlineMonitoring";
        assert_eq!(account(Some(role), false).scan_role().unwrap(), Some(role));
        assert_eq!(account(None, true).scan_role().unwrap(), None);
        let refused = account(None, false).scan_role().unwrap_err().to_string();
        assert!(
            refused.contains("account 123456789012 has no role"),
            "{refused}"
        );
    }

    #[test]
    fn account_ids_and_role_arns_are_checked() {
        assert!(check_account_id("123456789012").is_ok());
        for bad in ["12345678901", "1234567890123", "12345678901a", ""] {
            assert!(check_account_id(bad)
                .unwrap_err()
                .to_string()
                .contains("expected 12 digits"));
        }
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/Sightline").unwrap(),
            "123456789012"
        );
        assert!(role_arn_account("arn:aws:iam::123456789012:user/x").is_err());
        let mismatch = NewAccount {
            aws_account_id: "111111111111".into(),
            role_arn: Some("arn:aws:iam::222222222222:role/x".into()),
            ..NewAccount::default()
        };
        assert!(mismatch
            .validate()
            .unwrap_err()
            .to_string()
            .contains("belongs to account 222222222222"));
    }
}
