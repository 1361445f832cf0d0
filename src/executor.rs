//! The executor: the one place where requests touch PostgreSQL. Main thread only.
//!
//! It owns the transaction of a request (start, transaction-local settings, statements,
//! commit or abort) and turns every ERROR and every Rust panic inside it into an
//! [`Error`] after aborting the transaction, so a bad request never takes the worker down.
//! Statements run through SPI with kept plans (an LRU keyed by SQL text); every parameter is
//! a `text` datum. Results are copied into Rust values before the transaction ends.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::AssertUnwindSafe;

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::PgTryBuilder;

use crate::config::TxEnd;
use crate::error::{Error, PgError};
use crate::plan::{TypeRef, TypeResolver};
use crate::query::sql::Statement;

/// Kept plans per worker. Plans live in CacheMemoryContext, so the cache is bounded.
const PLAN_CACHE_SIZE: usize = 256;

/// The raw SQLSTATE of the last error reported while a request ran. pgrx reduces codes
/// it does not know (custom `PT402`, `PGRST`, ...) to XX000, so an error-context callback
/// records the code while the error is being raised.
static mut LAST_ERRCODE: c_int = 0;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn record_errcode(_arg: *mut c_void) {
    unsafe { LAST_ERRCODE = pg_sys::geterrcode() };
}

/// What PostgreSQL answers for a NUL byte in a text value (which it cannot store).
fn nul_byte_error() -> Error {
    Error::Pg(PgError {
        authenticated: false,
        sqlstate: "22021".into(),
        message: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
        detail: None,
        hint: None,
    })
}

fn unpack_sqlstate(code: c_int) -> String {
    (0..5)
        .map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char)
        .collect()
}

/// One row of PostgREST's result shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub total_result_set: Option<i64>,
    pub page_total: i64,
    pub location: Option<String>,
    pub body: Option<Vec<u8>>,
    pub response_headers: Option<String>,
    pub response_status: Option<String>,
    /// Upserts: how many rows were inserted rather than updated.
    pub inserted: Option<i64>,
}

struct CachedPlan {
    plan: pg_sys::SPIPlanPtr,
    last_used: u64,
}

pub struct Executor {
    plans: HashMap<String, CachedPlan>,
    tick: u64,
    db_is_utf8: bool,
    /// Transactions are subtransactions of a caller's transaction (`pgrest.request()`).
    nested: bool,
}

/// Handle given to the body of [`Executor::transaction`].
pub struct Tx<'e> {
    exec: &'e mut Executor,
    read_only: bool,
    snapshot_pushed: bool,
    timeout_armed: bool,
}

// Not in pgrx's bindings (utils/timeout.h); called through the FFI guard below.
extern "C-unwind" {
    #[link_name = "enable_timeout_after"]
    fn raw_enable_timeout_after(id: c_int, delay_ms: c_int);
    #[link_name = "disable_timeout"]
    fn raw_disable_timeout(id: c_int, keep_indicator: bool);
}

unsafe fn enable_timeout_after(id: c_int, delay_ms: c_int) {
    unsafe {
        pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| raw_enable_timeout_after(id, delay_ms))
    }
}

unsafe fn disable_timeout(id: c_int, keep_indicator: bool) {
    unsafe {
        pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| raw_disable_timeout(id, keep_indicator))
    }
}

/// How an [`Executor::transaction`] begins and ends: a top-level transaction in a worker;
/// in a calling session (`pgrest.request()`), a subtransaction of the caller's transaction,
/// as PL/pgSQL runs an exception block, after which the caller's memory context, resource
/// owner and read-only state are as they were.
#[derive(Clone, Copy)]
enum Frame {
    Top,
    Sub {
        context: pg_sys::MemoryContext,
        owner: pg_sys::ResourceOwner,
        was_read_only: bool,
    },
}

impl Frame {
    fn begin(nested: bool, read_only: bool) -> Frame {
        unsafe {
            LAST_ERRCODE = 0;
            if !nested {
                pg_sys::SetCurrentStatementStartTimestamp();
                pg_sys::StartTransactionCommand();
                // Before the first snapshot, like BEGIN READ ONLY.
                pg_sys::XactReadOnly = read_only || pg_sys::XactReadOnly;
                return Frame::Top;
            }
            let (context, owner, was_read_only) = (
                pg_sys::CurrentMemoryContext,
                pg_sys::CurrentResourceOwner,
                pg_sys::XactReadOnly,
            );
            // The caller's earlier changes are visible to the request's snapshot.
            pg_sys::CommandCounterIncrement();
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::XactReadOnly = read_only || was_read_only;
            Frame::Sub {
                context,
                owner,
                was_read_only,
            }
        }
    }

    /// Commits (`keep`) or rolls back.
    fn end(self, keep: bool) {
        unsafe {
            match (self, keep) {
                (Frame::Top, true) => pg_sys::CommitTransactionCommand(),
                (Frame::Top, false) => pg_sys::AbortCurrentTransaction(),
                (Frame::Sub { .. }, true) => pg_sys::ReleaseCurrentSubTransaction(),
                (Frame::Sub { .. }, false) => pg_sys::RollbackAndReleaseCurrentSubTransaction(),
            }
        }
        self.restore();
    }

    /// Ends the transaction after an ERROR or a panic. A worker also drops its statement
    /// timeout and a pending cancel; a calling session's are its own.
    fn abort_after_error(self) {
        unsafe {
            match self {
                Frame::Top => {
                    disable_timeout(STATEMENT_TIMEOUT, false);
                    pg_sys::AbortCurrentTransaction();
                    pg_sys::QueryCancelPending = 0;
                }
                Frame::Sub { .. } => pg_sys::RollbackAndReleaseCurrentSubTransaction(),
            }
        }
        self.restore();
    }

    fn restore(self) {
        if let Frame::Sub {
            context,
            owner,
            was_read_only,
        } = self
        {
            unsafe {
                pg_sys::MemoryContextSwitchTo(context);
                pg_sys::CurrentResourceOwner = owner;
                pg_sys::XactReadOnly = was_read_only;
            }
        }
    }
}

/// `STATEMENT_TIMEOUT` of PostgreSQL's `TimeoutId` enum (utils/timeout.h; the same value in
/// PostgreSQL 15 to 18, whose bindings leave the enum out).
const STATEMENT_TIMEOUT: c_int = 3;

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    pub fn new() -> Executor {
        let db_is_utf8 =
            unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as c_int;
        Executor {
            plans: HashMap::new(),
            tick: 0,
            db_is_utf8,
            nested: false,
        }
    }

    /// An executor inside a calling session's transaction: [`Executor::transaction`] runs
    /// a subtransaction, which the body's end releases or rolls back, and the caller's
    /// memory context, resource owner and read-only state are as they were afterwards.
    pub fn nested() -> Executor {
        Executor {
            nested: true,
            ..Executor::new()
        }
    }

    /// Runs `body` in a new transaction (a nested executor: a subtransaction of the
    /// caller's). The body's `Ok((value, end))` commits or rolls back; its `Err`, any ERROR
    /// and any panic abort. The transaction is over when this returns, whatever happened.
    pub fn transaction<T>(
        &mut self,
        read_only: bool,
        body: impl FnOnce(&mut Tx) -> Result<(T, TxEnd), Error>,
    ) -> Result<T, Error> {
        let frame = Frame::begin(self.nested, read_only);
        let mut callback = pg_sys::ErrorContextCallback {
            previous: unsafe { pg_sys::error_context_stack },
            callback: Some(record_errcode),
            arg: std::ptr::null_mut(),
        };
        let previous = callback.previous;
        unsafe { pg_sys::error_context_stack = &mut callback };
        let mut tx = Tx {
            exec: self,
            read_only,
            snapshot_pushed: false,
            timeout_armed: false,
        };
        let result = PgTryBuilder::new(AssertUnwindSafe(|| {
            let outcome = body(&mut tx);
            tx.disarm_timeout();
            if outcome.is_ok() {
                tx.finish_spi();
            }
            frame.end(matches!(outcome, Ok((_, TxEnd::Commit))));
            outcome.map(|(value, _)| value)
        }))
        .catch_others(|caught| {
            unsafe { pg_sys::error_context_stack = previous };
            frame.abort_after_error();
            Err(caught_to_error(caught))
        })
        .execute();
        unsafe { pg_sys::error_context_stack = previous };
        result
    }

    fn plan_for(&mut self, sql: &str, nargs: usize) -> pg_sys::SPIPlanPtr {
        self.tick += 1;
        if let Some(p) = self.plans.get_mut(sql) {
            p.last_used = self.tick;
            return p.plan;
        }
        let csql = CString::new(sql).expect("generated SQL has no NUL");
        let mut argtypes = vec![pg_sys::TEXTOID; nargs];
        let plan = unsafe {
            let plan = pg_sys::SPI_prepare(csql.as_ptr(), nargs as c_int, argtypes.as_mut_ptr());
            if plan.is_null() {
                let code = pg_sys::SPI_result;
                pgrx::error!("SPI_prepare failed: {code}");
            }
            pg_sys::SPI_keepplan(plan);
            plan
        };
        if self.plans.len() >= PLAN_CACHE_SIZE {
            if let Some(oldest) = self
                .plans
                .iter()
                .min_by_key(|(_, p)| p.last_used)
                .map(|(k, _)| k.clone())
            {
                if let Some(p) = self.plans.remove(&oldest) {
                    unsafe { pg_sys::SPI_freeplan(p.plan) };
                }
            }
        }
        self.plans.insert(
            sql.to_string(),
            CachedPlan {
                plan,
                last_used: self.tick,
            },
        );
        plan
    }

    /// A text datum in the database encoding, allocated in the current (transaction) context.
    fn text_datum(&self, value: &str) -> Result<pg_sys::Datum, Error> {
        if value.contains('\0') {
            return Err(nul_byte_error());
        }
        unsafe {
            let (ptr, len) = if self.db_is_utf8 {
                (value.as_ptr() as *const c_char, value.len())
            } else {
                let c = CString::new(value).expect("checked for NUL above");
                let converted = pg_sys::pg_any_to_server(
                    c.as_ptr(),
                    value.len() as c_int,
                    pg_sys::pg_enc::PG_UTF8 as c_int,
                );
                (
                    converted as *const c_char,
                    CStr::from_ptr(converted).to_bytes().len(),
                )
            };
            Ok(pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                ptr,
                len as c_int,
            )))
        }
    }

    /// Copies a NUL-terminated string in the database encoding out as UTF-8 bytes.
    unsafe fn server_cstring_bytes(&self, s: *const c_char) -> Vec<u8> {
        unsafe {
            let bytes = CStr::from_ptr(s).to_bytes();
            if self.db_is_utf8 {
                return bytes.to_vec();
            }
            let converted =
                pg_sys::pg_server_to_any(s, bytes.len() as c_int, pg_sys::pg_enc::PG_UTF8 as c_int);
            CStr::from_ptr(converted).to_bytes().to_vec()
        }
    }

    /// Copies a text-like datum (text, json, varchar) out as UTF-8 bytes.
    unsafe fn datum_bytes(&self, datum: pg_sys::Datum) -> Vec<u8> {
        unsafe {
            let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            let len = pgrx::varlena::varsize_any_exhdr(v);
            let data = pgrx::varlena::vardata_any(v);
            if self.db_is_utf8 {
                std::slice::from_raw_parts(data as *const u8, len).to_vec()
            } else {
                let converted =
                    pg_sys::pg_server_to_any(data, len as c_int, pg_sys::pg_enc::PG_UTF8 as c_int);
                if std::ptr::eq(converted, data) {
                    std::slice::from_raw_parts(data as *const u8, len).to_vec()
                } else {
                    CStr::from_ptr(converted).to_bytes().to_vec()
                }
            }
        }
    }
}

pub(crate) fn caught_to_error(caught: CaughtError) -> Error {
    match caught {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => {
            let mut sqlstate = unpack_sqlstate(report.sql_error_code() as isize as c_int);
            let raw = unsafe { LAST_ERRCODE };
            // pgrx maps SQLSTATEs it does not know to XX000; the callback saw the real one.
            if sqlstate == "XX000" && raw != 0 {
                sqlstate = unpack_sqlstate(raw);
            }
            Error::Pg(PgError {
                authenticated: false,
                sqlstate,
                message: report.message().to_string(),
                detail: report.detail().map(str::to_string),
                hint: report.hint().map(str::to_string),
            })
        }
        CaughtError::RustPanic { ereport, .. } => {
            let msg = ereport.message().to_string();
            pgrx::log!("pgrest: internal error while handling a request: {msg}");
            Error::Internal(msg)
        }
    }
}

impl Tx<'_> {
    /// Sets a transaction-local setting, exactly like `set_config(name, value, true)`.
    pub fn set_config(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let (Ok(n), Ok(v)) = (CString::new(name), CString::new(value)) else {
            return Err(nul_byte_error());
        };
        unsafe {
            let context = if pg_sys::superuser() {
                pg_sys::GucContext::PGC_SUSET
            } else {
                pg_sys::GucContext::PGC_USERSET
            };
            pg_sys::set_config_option(
                n.as_ptr(),
                v.as_ptr(),
                context,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_LOCAL,
                true,
                0,
                false,
            );
        }
        Ok(())
    }

    /// Arms PostgreSQL's statement timeout with the current `statement_timeout` (which the
    /// request's role settings may have changed). SPI never arms it by itself.
    pub fn arm_statement_timeout(&mut self) {
        if self.exec.nested {
            return; // The caller's statement runs under its own timeout.
        }
        unsafe {
            if pg_sys::StatementTimeout > 0 {
                enable_timeout_after(STATEMENT_TIMEOUT, pg_sys::StatementTimeout);
                self.timeout_armed = true;
            }
        }
    }

    fn disarm_timeout(&mut self) {
        if self.timeout_armed {
            unsafe { disable_timeout(STATEMENT_TIMEOUT, false) };
            self.timeout_armed = false;
        }
    }

    fn ensure_spi(&mut self) {
        if !self.snapshot_pushed {
            unsafe {
                pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
                pg_sys::SPI_connect();
            }
            self.snapshot_pushed = true;
        }
    }

    fn finish_spi(&mut self) {
        if self.snapshot_pushed {
            unsafe {
                pg_sys::SPI_finish();
                pg_sys::PopActiveSnapshot();
            }
            self.snapshot_pushed = false;
        }
    }

    /// Executes a statement through its kept plan; the rows stay in `SPI_tuptable`.
    fn execute(&mut self, stmt: &Statement, read_only: bool) -> Result<(), Error> {
        self.ensure_spi();
        let plan = self.exec.plan_for(&stmt.sql, stmt.params.len());
        let mut values = stmt
            .params
            .iter()
            .map(|p| self.exec.text_datum(p))
            .collect::<Result<Vec<_>, _>>()?;
        let nulls = vec![b' ' as c_char; values.len()];
        let rc = unsafe {
            pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), read_only, 0)
        };
        if rc < 0 {
            return Err(Error::Internal(format!(
                "SPI_execute_plan failed with code {rc}"
            )));
        }
        Ok(())
    }

    /// Runs a statement for its effect only (its result, of whatever type, is not read).
    pub fn run(&mut self, stmt: &Statement) -> Result<(), Error> {
        self.execute(stmt, self.read_only)
    }

    /// Runs a statement and returns its first row, every column as text (None = NULL).
    pub fn query(&mut self, stmt: &Statement) -> Result<Option<Vec<Option<Vec<u8>>>>, Error> {
        self.execute(stmt, self.read_only)?;
        Ok(self.first_row())
    }

    /// The first row of the last statement, each column in its text form.
    fn first_row(&self) -> Option<Vec<Option<Vec<u8>>>> {
        unsafe {
            if pg_sys::SPI_processed == 0 || pg_sys::SPI_tuptable.is_null() {
                return None;
            }
            let table = &*pg_sys::SPI_tuptable;
            let tuple = *table.vals;
            let natts = (*table.tupdesc).natts;
            Some(
                (1..=natts)
                    .map(|i| self.column_text(tuple, table.tupdesc, i))
                    .collect(),
            )
        }
    }

    /// One column as text: integers and booleans by value, text-like varlenas by copying
    /// their bytes (the large bodies), every other type through its output function.
    unsafe fn column_text(
        &self,
        tuple: pg_sys::HeapTuple,
        desc: pg_sys::TupleDesc,
        i: c_int,
    ) -> Option<Vec<u8>> {
        unsafe {
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(tuple, desc, i, &mut isnull);
            if isnull {
                return None;
            }
            Some(match pg_sys::SPI_gettypeid(desc, i) {
                pg_sys::INT8OID => (datum.value() as i64).to_string().into_bytes(),
                pg_sys::INT4OID => (datum.value() as i32).to_string().into_bytes(),
                pg_sys::BOOLOID => if datum.value() != 0 { "true" } else { "false" }.into(),
                pg_sys::TEXTOID | pg_sys::JSONOID | pg_sys::VARCHAROID => {
                    self.exec.datum_bytes(datum)
                }
                _ => {
                    let text = pg_sys::SPI_getvalue(tuple, desc, i);
                    if text.is_null() {
                        return None;
                    }
                    self.exec.server_cstring_bytes(text)
                }
            })
        }
    }

    /// Runs one of pgrest's main statements and decodes PostgREST's result shape.
    pub fn main_statement(&mut self, stmt: &Statement) -> Result<ResultSet, Error> {
        let Some(row) = self.query(stmt)? else {
            return Ok(ResultSet::default());
        };
        let text = |i: usize| {
            row.get(i)
                .cloned()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let int = |i: usize| text(i).and_then(|s| s.parse::<i64>().ok());
        Ok(ResultSet {
            total_result_set: int(0),
            page_total: int(1).unwrap_or(0),
            location: text(2),
            body: row.get(3).cloned().flatten(),
            response_headers: text(4),
            response_status: text(5),
            inserted: int(6),
        })
    }

    /// `EXPLAIN (FORMAT JSON)`'s estimate of the rows of a statement (`count=planned`).
    pub fn planned_rows(&mut self, stmt: &Statement) -> Result<Option<i64>, Error> {
        let explain = Statement {
            sql: format!("EXPLAIN (FORMAT JSON) {}", stmt.sql),
            params: stmt.params.clone(),
        };
        // EXPLAIN is a utility statement, which SPI refuses in read-only mode even though it
        // writes nothing; the transaction itself stays read-only.
        self.execute(&explain, false)?;
        let Some(row) = self.first_row() else {
            return Ok(None);
        };
        let json: serde_json::Value = match row.first().cloned().flatten() {
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => return Ok(None),
        };
        Ok(json
            .get(0)
            .and_then(|p| p.get("Plan"))
            .and_then(|p| p.get("Plan Rows"))
            .and_then(|r| r.as_f64())
            .map(|r| r as i64))
    }

    /// `EXPLAIN` of a statement (`Accept: application/vnd.pgrst.plan`): the JSON document, or
    /// the text plan's lines joined. With `analyze` the statement runs.
    pub fn explain(
        &mut self,
        stmt: &Statement,
        format: crate::api_request::media_type::PlanFormat,
        options: &[crate::api_request::media_type::PlanOption],
    ) -> Result<Vec<u8>, Error> {
        use crate::api_request::media_type::{PlanFormat, PlanOption};
        let mut sql = String::from(match format {
            PlanFormat::Json => "EXPLAIN (FORMAT JSON",
            PlanFormat::Text => "EXPLAIN (FORMAT TEXT",
        });
        for o in PlanOption::ALL.iter().filter(|o| options.contains(o)) {
            sql.push_str(match o {
                PlanOption::Analyze => ", ANALYZE",
                PlanOption::Verbose => ", VERBOSE",
                PlanOption::Settings => ", SETTINGS",
                PlanOption::Buffers => ", BUFFERS",
                PlanOption::Wal => ", WAL",
            });
        }
        sql.push_str(") ");
        sql.push_str(&stmt.sql);
        let explain = Statement {
            sql,
            params: stmt.params.clone(),
        };
        // A utility statement: SPI refuses it in read-only mode, though the transaction
        // stays read-only (so ANALYZE of a GET still cannot write).
        self.execute(&explain, false)?;
        let mut out: Vec<u8> = Vec::new();
        unsafe {
            if !pg_sys::SPI_tuptable.is_null() {
                let table = &*pg_sys::SPI_tuptable;
                for i in 0..pg_sys::SPI_processed as usize {
                    let tuple = *table.vals.add(i);
                    if i > 0 {
                        out.push(b'\n');
                    }
                    if let Some(text) = self.column_text(tuple, table.tupdesc, 1) {
                        out.extend_from_slice(&text);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Makes deferred constraints fire now, so a rolled-back request still reports them.
    pub fn set_constraints_immediate(&mut self) -> Result<(), Error> {
        self.run(&Statement {
            sql: "SET CONSTRAINTS ALL IMMEDIATE".into(),
            params: vec![],
        })
    }
}

/// Resolves cast type names with PostgreSQL's own parser (`parseTypeString`), so a type name
/// from a URL is never spliced into SQL: it becomes a catalog OID, then a quoted name.
pub struct CatalogTypes;

impl TypeResolver for CatalogTypes {
    fn resolve(&mut self, name: &str) -> Result<TypeRef, Error> {
        let cname = CString::new(name).map_err(|_| nul_byte_error())?;
        unsafe {
            let mut oid = pg_sys::InvalidOid;
            let mut typmod: i32 = -1;
            // The last argument says "raise on error": `missing_ok = false` before PostgreSQL
            // 16, no soft-error context since.
            #[cfg(feature = "pg15")]
            pg_sys::parseTypeString(cname.as_ptr(), &mut oid, &mut typmod, false);
            #[cfg(not(feature = "pg15"))]
            pg_sys::parseTypeString(cname.as_ptr(), &mut oid, &mut typmod, std::ptr::null_mut());
            let tuple = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::TYPEOID as c_int,
                pg_sys::Datum::from(oid),
            );
            if tuple.is_null() {
                return Err(Error::Internal(format!(
                    "cache lookup failed for type {}",
                    u32::from(oid)
                )));
            }
            let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_type>(tuple);
            let type_name = CStr::from_ptr((*form).typname.data.as_ptr())
                .to_string_lossy()
                .into_owned();
            let namespace = (*form).typnamespace;
            pg_sys::ReleaseSysCache(tuple);
            let nsp = pg_sys::get_namespace_name(namespace);
            let schema = if nsp.is_null() {
                String::new()
            } else {
                CStr::from_ptr(nsp).to_string_lossy().into_owned()
            };
            Ok(TypeRef {
                schema,
                name: type_name,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_unpack() {
        // MAKE_SQLSTATE('P','T','4','0','2')
        let pack = |s: &str| {
            s.bytes().enumerate().fold(0i32, |acc, (i, c)| {
                acc | ((((c - b'0') & 0x3F) as i32) << (6 * i))
            })
        };
        for s in ["PT402", "PGRST", "42501", "23505", "XX000", "P0001"] {
            assert_eq!(unpack_sqlstate(pack(s)), s);
        }
    }
}
