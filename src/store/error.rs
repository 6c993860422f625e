//! Why a state-store call failed. Every message names the store's file and
//! the operation, so a log line alone says what was being done where.

use std::path::PathBuf;

/// A state-store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the store's file is not there. The
    /// store never creates directories: a missing one is more likely a
    /// typo in `state.path` or an unmounted volume than a wish.
    #[error(
        "cannot open the state store {}: the directory {} does not exist; create it, or set state.path to a file in an existing directory",
        .path.display(),
        .dir.display()
    )]
    MissingDirectory { path: PathBuf, dir: PathBuf },

    /// The file was written by a newer carteiro, whose schema this one does
    /// not know. Opening it anyway could lose what the newer version keeps.
    #[error(
        "cannot open the state store {}: its schema version is {found}, but this carteiro knows versions up to {supported}; it was written by a newer carteiro, so run that version (or a later one), or restore a backup taken before the upgrade",
        .path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The file is a SQLite database, but not one of carteiro's.
    #[error("cannot open the state store {}: {reason}", .path.display())]
    NotAStore { path: PathBuf, reason: String },

    /// SQLite refused or failed: I/O, a full disk, a locked file that stayed
    /// locked past the busy timeout, a violated constraint.
    #[error("state store {}: cannot {operation}: {cause}", .path.display())]
    Sqlite {
        path: PathBuf,
        operation: String,
        cause: rusqlite::Error,
    },

    /// A value that cannot be stored (a ticket id beyond SQLite's integer
    /// range) or a stored value carteiro cannot read back (an unknown
    /// outcome name, a malformed timestamp).
    #[error("state store {}: cannot {operation}: {problem}", .path.display())]
    Invalid {
        path: PathBuf,
        operation: String,
        problem: String,
    },

    /// A quarantine entry named by id does not exist.
    #[error("state store {}: cannot {operation}: there is no quarantine entry {id}", .path.display())]
    NoSuchQuarantineEntry {
        path: PathBuf,
        operation: String,
        id: i64,
    },

    /// The mail already has a final outcome; recording a different one
    /// would mean it was handled twice. Only a `quarantined` record is
    /// replaced (by the outcome of a retry).
    #[error(
        "state store {}: cannot {operation}: the mail was already recorded as {earlier}; a mail is handled once",
        .path.display()
    )]
    AlreadyProcessed {
        path: PathBuf,
        operation: String,
        earlier: String,
    },
}

/// What went wrong inside an operation, before the store adds its path and
/// the operation's name.
#[derive(Debug)]
pub(crate) enum Fault {
    Sqlite(rusqlite::Error),
    Invalid(String),
    NoSuchQuarantineEntry(i64),
    AlreadyProcessed(String),
}

impl From<rusqlite::Error> for Fault {
    fn from(error: rusqlite::Error) -> Fault {
        Fault::Sqlite(error)
    }
}

impl Fault {
    /// The user-facing error for `operation` on the store at `path`.
    pub(crate) fn into_error(self, path: PathBuf, operation: String) -> StoreError {
        match self {
            Fault::Sqlite(cause) => StoreError::Sqlite {
                path,
                operation,
                cause,
            },
            Fault::Invalid(problem) => StoreError::Invalid {
                path,
                operation,
                problem,
            },
            Fault::NoSuchQuarantineEntry(id) => StoreError::NoSuchQuarantineEntry { path, operation, id },
            Fault::AlreadyProcessed(earlier) => StoreError::AlreadyProcessed {
                path,
                operation,
                earlier,
            },
        }
    }
}
