-- pgrest 0.1.0 → 0.2.0: the API from SQL (pgrest.request, pgrest.sql).
-- Run by `ALTER EXTENSION pgrest UPDATE` after the new library is installed.

CREATE FUNCTION "request"(
	"method" TEXT,
	"path" TEXT,
	"headers" jsonb DEFAULT '{}',
	"body" TEXT DEFAULT NULL
) RETURNS TABLE (
	"status" INT,
	"headers" jsonb,
	"body" TEXT
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'request_wrapper';

CREATE FUNCTION "sql"(
	"method" TEXT,
	"path" TEXT,
	"headers" jsonb DEFAULT '{}',
	"body" TEXT DEFAULT NULL
) RETURNS TABLE (
	"statement" TEXT,
	"params" TEXT[]
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'sql_wrapper';
