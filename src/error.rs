//! PostgreSQL-style errors shared by every layer: a SQLSTATE, a message in
//! PostgreSQL's words and an optional cursor position (1-based, in characters).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub code: &'static str,
    pub message: String,
    pub position: Option<usize>,
    /// Where in the statement text the error points, as the parser counts
    /// (line, column; 1-based), when only that is known; the frontend,
    /// which has the text, turns it into `position`.
    pub span: Option<(u64, u64)>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The object an integrity error is about, sent in the ErrorResponse's
    /// schema, table, column and constraint fields (drivers expose them:
    /// node-postgres `err.constraint`, psycopg `diag.constraint_name`).
    pub object: Option<Box<ErrorObject>>,
}

/// The schema, table, column and constraint an error names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorObject {
    pub schema: String,
    pub table: String,
    pub column: Option<String>,
    pub constraint: Option<String>,
}

/// A NOTICE or WARNING sent to the client before the statement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Notice {
    pub fn notice(code: &'static str, message: impl Into<String>) -> Self {
        Notice {
            severity: "NOTICE",
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Notice {
            severity: "WARNING",
            ..Notice::notice(code, message)
        }
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub type PgResult<T> = Result<T, PgError>;

impl PgError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        PgError {
            code,
            message: message.into(),
            position: None,
            span: None,
            detail: None,
            hint: None,
            object: None,
        }
    }
    /// The error is about constraint `constraint` of `schema.table`.
    pub fn on_constraint(mut self, schema: &str, table: &str, constraint: &str) -> Self {
        self.object = Some(Box::new(ErrorObject {
            schema: schema.to_string(),
            table: table.to_string(),
            column: None,
            constraint: Some(constraint.to_string()),
        }));
        self
    }
    /// The error is about column `column` of `schema.table`.
    pub fn on_column(mut self, schema: &str, table: &str, column: &str) -> Self {
        self.object = Some(Box::new(ErrorObject {
            schema: schema.to_string(),
            table: table.to_string(),
            column: Some(column.to_string()),
            constraint: None,
        }));
        self
    }
    pub fn with_span(mut self, line: u64, column: u64) -> Self {
        if line > 0 {
            self.span = Some((line, column));
        }
        self
    }
    pub fn with_position(mut self, pos: usize) -> Self {
        self.position = Some(pos);
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(codes::SYNTAX_ERROR, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, message)
    }
    /// 25P02: a statement other than COMMIT/ROLLBACK in a failed block.
    pub fn in_failed_block() -> Self {
        Self::new(
            codes::IN_FAILED_TRANSACTION,
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    }
    pub fn unsupported(feature: impl fmt::Display) -> Self {
        Self::new(
            codes::FEATURE_NOT_SUPPORTED,
            format!("{feature} is not supported"),
        )
    }
    pub fn undefined_table(name: &str) -> Self {
        Self::new(
            codes::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }
    pub fn undefined_column(name: &str) -> Self {
        Self::new(
            codes::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        )
    }
    /// 40001, as PostgreSQL words it for a row changed by another
    /// transaction.
    pub fn serialization_failure() -> Self {
        Self::new(
            codes::SERIALIZATION_FAILURE,
            "could not serialize access due to concurrent update",
        )
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for PgError {}

/// SQLSTATE codes used by GrapeDB (names follow PostgreSQL's errcodes.txt).
pub mod codes {
    pub const SUCCESSFUL_COMPLETION: &str = "00000";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_SCHEMA: &str = "42P06";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const UNDEFINED_PARAMETER: &str = "42704";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const CANNOT_COERCE: &str = "42846";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const GENERATED_ALWAYS: &str = "428C9";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const DUPLICATE_CURSOR: &str = "42P03";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
    pub const QUERY_CANCELED: &str = "57014";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const IO_ERROR: &str = "58030";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const TRANSACTION_RESOLUTION_UNKNOWN: &str = "08007";
    pub const STATEMENT_COMPLETION_UNKNOWN: &str = "40003";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const CARDINALITY_VIOLATION: &str = "21000";
}

/// An internal error (XX000) from a library error that has no SQLSTATE of
/// its own (DataFusion, Arrow, bincode).
pub fn df_internal(e: impl std::fmt::Display) -> PgError {
    PgError::internal(e.to_string())
}
