//! The audit trail's answer.

use serde::{Deserialize, Serialize};

use crate::record::AdminRecord;

/// `GET /api/v1/audit`: the `admin` lines of the execution log, newest
/// first, as they are written there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    pub audit: Vec<AdminRecord>,
}
