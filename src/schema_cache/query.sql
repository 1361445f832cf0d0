-- The schema cache: every relation, column, primary key, foreign key and computed field of
-- the exposed schemas, plus the settings of the roles the authenticator can become, as one
-- JSON document.
-- $1: JSON array of the exposed schemas; $2: JSON array of the extra search path schemas.
-- Type names are resolved here from the catalogs (never with format_type) so that the
-- planner can write fully qualified, quoted casts.
WITH
exposed AS (
  SELECT json_array_elements_text($1::json) AS nspname
),
searchable AS (
  SELECT nspname FROM exposed
  UNION
  SELECT json_array_elements_text($2::json)
),
-- For every type: its base type (through domains), and what the planner needs to know.
base_types AS (
  WITH RECURSIVE recurse AS (
    SELECT oid, typbasetype, oid AS base
    FROM pg_catalog.pg_type
    UNION ALL
    SELECT r.oid, b.typbasetype, b.oid
    FROM recurse r
    JOIN pg_catalog.pg_type b ON b.oid = r.typbasetype
    WHERE r.typbasetype <> 0
  )
  SELECT oid, base FROM recurse WHERE typbasetype = 0
),
type_info AS (
  SELECT
    t.oid,
    t.typtype,
    t.typnotnull,
    t.typbasetype,
    t.typdefaultbin,
    t.typtypmod,
    b.oid AS base_oid,
    b.typname AS base_name,
    b.typnamespace AS base_namespace,
    json_build_object(
      'schema', tn.nspname,
      'name', t.typname,
      'base', b.typname,
      'category', b.typcategory,
      'composite', b.typtype = 'c',
      'array_schema', an.nspname,
      'array_name', a.typname
    ) AS info
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
  JOIN base_types bt ON bt.oid = t.oid
  JOIN pg_catalog.pg_type b ON b.oid = bt.base
  LEFT JOIN pg_catalog.pg_type a ON a.oid = t.typarray AND t.typarray <> 0
  LEFT JOIN pg_catalog.pg_namespace an ON an.oid = a.typnamespace
),
rels AS (
  SELECT
    c.oid,
    c.reltype,
    n.nspname,
    c.relname,
    c.relkind,
    CASE WHEN c.relkind IN ('r', 'p') THEN true
         ELSE (pg_catalog.pg_relation_is_updatable(c.oid, true) & 8) = 8 END AS insertable,
    CASE WHEN c.relkind IN ('r', 'p') THEN true
         ELSE (pg_catalog.pg_relation_is_updatable(c.oid, true) & 4) = 4 END AS updatable,
    CASE WHEN c.relkind IN ('r', 'p') THEN true
         ELSE (pg_catalog.pg_relation_is_updatable(c.oid, true) & 16) = 16 END AS deletable
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN (SELECT nspname FROM exposed)
    AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
    AND NOT c.relispartition
),
columns AS (
  SELECT
    a.attrelid,
    json_agg(
      json_build_object(
        'name', a.attname,
        'nullable', NOT (a.attnotnull OR ti.typtype = 'd' AND ti.typnotnull),
        -- As PostgREST shows it: a domain's default, an identity's sequence, none for a
        -- generated column.
        'default', CASE
          WHEN a.attgenerated <> '' THEN NULL
          WHEN a.attidentity <> '' THEN
            (SELECT format('nextval(%L)', dep.objid::pg_catalog.regclass)
             FROM pg_catalog.pg_depend dep
             WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
               AND dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass LIMIT 1)
          WHEN d.adbin IS NULL AND ti.typbasetype <> 0 THEN pg_catalog.pg_get_expr(ti.typdefaultbin, 0)
          ELSE pg_catalog.pg_get_expr(d.adbin, d.adrelid)
        END,
        'generated', a.attgenerated <> '' OR a.attidentity = 'a',
        'description', pg_catalog.col_description(a.attrelid, a.attnum),
        -- PostgREST's data_type: built-in types without their modifier, others as declared.
        'data_type', CASE
          WHEN ti.base_namespace = 'pg_catalog'::pg_catalog.regnamespace
            THEN pg_catalog.format_type(ti.base_oid, NULL)
          ELSE pg_catalog.format_type(a.atttypid, a.atttypmod)
        END,
        'max_length', CASE WHEN ti.base_name IN ('bpchar', 'varchar') THEN
          nullif(CASE WHEN ti.typtype = 'd' THEN ti.typtypmod ELSE a.atttypmod END, -1) - 4 END,
        'enum', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
                 FROM pg_catalog.pg_enum e WHERE e.enumtypid = ti.base_oid),
        'type', ti.info
      ) ORDER BY a.attnum
    ) AS cols
  FROM pg_catalog.pg_attribute a
  JOIN rels r ON r.oid = a.attrelid
  JOIN type_info ti ON ti.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
  GROUP BY a.attrelid
),
pks AS (
  SELECT
    con.conrelid,
    json_agg(a.attname ORDER BY k.ord) AS cols
  FROM pg_catalog.pg_constraint con
  JOIN rels r ON r.oid = con.conrelid
  CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
  WHERE con.contype = 'p'
  GROUP BY con.conrelid
),
-- Unique constraints (and unique indexes without a predicate or expressions), each as its
-- columns in key order.
uniques AS (
  SELECT u.relid, json_agg(u.cols ORDER BY u.cols::text) AS keys
  FROM (
    SELECT i.indrelid AS relid,
           (SELECT json_agg(a.attname ORDER BY k.ord)
            FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS cols
    FROM pg_catalog.pg_index i
    JOIN rels r ON r.oid = i.indrelid
    WHERE i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL AND i.indexprs IS NULL
  ) u
  GROUP BY u.relid
),
computed AS (
  SELECT
    json_agg(
      json_build_object(
        'table_schema', r.nspname,
        'table_name', r.relname,
        'function_schema', pn.nspname,
        'function', p.proname,
        'returns_set', p.proretset,
        'type', ti.info
      ) ORDER BY r.nspname, r.relname, p.proname
    ) AS items
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
  JOIN rels r ON r.reltype = p.proargtypes[0]
  JOIN type_info ti ON ti.oid = p.prorettype
  WHERE p.pronargs = 1
    AND p.prokind = 'f'
    AND pn.nspname IN (SELECT nspname FROM searchable)
),
-- Views and materialized views of the exposed and extra schemas: their stored query (a
-- pg_node_tree, parsed by pgrest to find which base column each view column shows) and
-- their column names in attribute order.
views AS (
  SELECT c.oid, n.nspname, c.relname, r.oid AS rule, r.ev_action
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN'
  WHERE c.relkind IN ('v', 'm')
    AND n.nspname IN (SELECT nspname FROM searchable)
),
-- Every column those queries read, named (the parsed query knows them by number).
view_deps AS (
  SELECT DISTINCT d.refobjid AS oid, d.refobjsubid AS attnum
  FROM pg_catalog.pg_depend d
  JOIN views v ON d.objid = v.rule
  WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    AND d.refobjsubid > 0
),
-- Foreign keys from or to an exposed relation (partitions excluded: their parent's
-- constraint stands for them), with whether the referencing columns are also a primary key
-- or unique constraint of their table (then the relationship is one-to-one).
fks AS (
  SELECT json_agg(
    json_build_object(
      'name', con.conname,
      'schema', tn.nspname,
      'table', tab.relname,
      'columns', cols.names,
      'foreign_schema', fn.nspname,
      'foreign_table', ftab.relname,
      'foreign_columns', cols.fnames,
      'one_to_one', EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint u
        WHERE u.conrelid = con.conrelid AND u.contype IN ('p', 'u')
          AND (SELECT array_agg(k ORDER BY k) FROM unnest(u.conkey) k) = cols.sorted
      )
    ) ORDER BY tn.nspname, tab.relname, con.conname) AS items
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class tab ON tab.oid = con.conrelid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = tab.relnamespace
  JOIN pg_catalog.pg_class ftab ON ftab.oid = con.confrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = ftab.relnamespace
  CROSS JOIN LATERAL (
    SELECT
      json_agg(a.attname ORDER BY k.ord) AS names,
      json_agg(fa.attname ORDER BY k.ord) AS fnames,
      array_agg(k.col ORDER BY k.col) AS sorted
    FROM unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(col, ref, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col
    JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.ref
  ) cols
  WHERE con.contype = 'f'
    AND con.conparentid = 0
    AND (tn.nspname IN (SELECT nspname FROM exposed) OR fn.nspname IN (SELECT nspname FROM exposed)
         OR con.conrelid IN (SELECT oid FROM view_deps) OR con.confrelid IN (SELECT oid FROM view_deps))
),
-- Computed relationships: functions of the exposed schemas taking the row of an exposed
-- relation and returning rows of another one (SETOF: to-many unless `ROWS 1`; a single
-- row: to-one), as PostgREST finds them.
computed_rels AS (
  SELECT json_agg(
    json_build_object(
      'function_schema', pn.nspname,
      'function', p.proname,
      'schema', r.nspname,
      'table', r.relname,
      'foreign_schema', fr.nspname,
      'foreign_table', fr.relname,
      'to_one', NOT p.proretset OR p.prorows = 1
    ) ORDER BY pn.nspname, p.proname, r.nspname, r.relname) AS items
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
  JOIN rels r ON r.reltype = p.proargtypes[0]
  JOIN rels fr ON fr.reltype = p.prorettype
  WHERE p.pronargs = 1
    AND p.prokind = 'f'
    AND pn.nspname IN (SELECT nspname FROM exposed)
),
-- The arguments of the functions of the exposed schemas, with their types looked up once
-- (a join, not a lookup per argument): the input parameters in order (required when they
-- have no default) and the columns of a TABLE (...) or OUT-parameter result.
routine_args AS (
  SELECT
    a.proc,
    json_agg(json_build_object(
      'name', coalesce(a.name, ''),
      'type', pg_catalog.format_type(a.typ, NULL),
      'pg_type', ti.info,
      'required', a.in_idx <= a.pronargs - a.pronargdefaults,
      'variadic', a.mode = 'v'
    ) ORDER BY a.ord) FILTER (WHERE a.mode IN ('i', 'b', 'v')) AS params,
    json_agg(json_build_object('name', a.name, 'type', ti.info) ORDER BY a.ord)
      FILTER (WHERE a.mode IN ('o', 'b', 't')) AS out_columns
  FROM (
    SELECT p.oid AS proc, p.pronargs, p.pronargdefaults, x.typ, x.mode, x.name, x.ord,
           count(*) FILTER (WHERE x.mode IN ('i', 'b', 'v'))
             OVER (PARTITION BY p.oid ORDER BY x.ord) AS in_idx
    FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
    CROSS JOIN LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[]),
                coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs])),
                coalesce(p.proargnames, array_fill(''::text, ARRAY[p.pronargs])))
         WITH ORDINALITY AS x(typ, mode, name, ord)
    WHERE pn.nspname IN (SELECT nspname FROM exposed)
      AND p.prokind = 'f'
  ) a
  LEFT JOIN type_info ti ON ti.oid = a.typ
  GROUP BY a.proc
),
-- Functions of the exposed schemas (what /rpc calls and OpenAPI lists): input parameters
-- in order, whether each must be given, what they return.
routines AS (
  SELECT json_agg(json_build_object(
    'oid', p.oid::pg_catalog.int8,
    'schema', pn.nspname,
    'name', p.proname,
    'description', pg_catalog.obj_description(p.oid, 'pg_proc'),
    'params', coalesce(ra.params, '[]'),
    'out_columns', coalesce(ra.out_columns, '[]'),
    'return_pg_type', rti.info,
    -- Its own SET clauses (`statement_timeout=5s`), hoisted into the request's transaction.
    'settings', coalesce(p.proconfig, '{}'),
    'returns_set', p.proretset,
    'return_schema', rn.nspname,
    'return_type', rt.typname,
    -- OUT, INOUT and TABLE parameters make rows even when there is only one of them. A
    -- bare `record` is a value (its JSON is an object with the row's own names).
    'return_composite', rt.typtype = 'c'
      OR coalesce(p.proargmodes && '{o,b,t}'::"char"[], false),
    'volatility', p.provolatile
  ) ORDER BY pn.nspname, p.proname, p.oid) AS items
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
  JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype
  JOIN pg_catalog.pg_namespace rn ON rn.oid = rt.typnamespace
  LEFT JOIN routine_args ra ON ra.proc = p.oid
  LEFT JOIN type_info rti ON rti.oid = p.prorettype
  WHERE pn.nspname IN (SELECT nspname FROM exposed)
    AND p.prokind = 'f'
    AND rt.typname NOT IN ('trigger', 'event_trigger')
),
schema_descriptions AS (
  SELECT json_object_agg(n.nspname, pg_catalog.obj_description(n.oid, 'pg_namespace')) AS items
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname IN (SELECT nspname FROM exposed)
),
role_settings AS (
  -- Settings of the roles the authenticator can switch to; database-specific ones last
  -- so they override the global ones.
  SELECT json_agg(json_build_object('role', r.rolname, 'settings', s.setconfig)
                  ORDER BY s.setdatabase, r.rolname) AS items
  FROM pg_catalog.pg_db_role_setting s
  JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
  WHERE s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
    AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
)
SELECT json_build_object(
  'tables', coalesce((
    SELECT json_agg(
      json_build_object(
        'schema', r.nspname,
        'name', r.relname,
        'kind', r.relkind,
        'insertable', r.insertable,
        'updatable', r.updatable,
        'deletable', r.deletable,
        'pk', coalesce(pk.cols, '[]'),
        'unique', coalesce(uq.keys, '[]'),
        'description', pg_catalog.obj_description(r.oid, 'pg_class'),
        'columns', coalesce(c.cols, '[]')
      ) ORDER BY r.nspname, r.relname)
    FROM rels r
    LEFT JOIN columns c ON c.attrelid = r.oid
    LEFT JOIN pks pk ON pk.conrelid = r.oid
    LEFT JOIN uniques uq ON uq.relid = r.oid
  ), '[]'),
  'computed_fields', coalesce((SELECT items FROM computed), '[]'),
  'foreign_keys', coalesce((SELECT items FROM fks), '[]'),
  'computed_relationships', coalesce((SELECT items FROM computed_rels), '[]'),
  'routines', coalesce((SELECT items FROM routines), '[]'),
  'schema_descriptions', coalesce((SELECT items FROM schema_descriptions), '{}'),
  'views', coalesce((
    SELECT json_agg(json_build_object(
      'oid', v.oid::pg_catalog.int8,
      'schema', v.nspname,
      'name', v.relname,
      'columns', (SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped),
      'definition', v.ev_action::text
    ) ORDER BY v.oid)
    FROM views v
  ), '[]'),
  'view_sources', coalesce((
    SELECT json_agg(json_build_object(
      'oid', d.oid::pg_catalog.int8,
      'attnum', d.attnum,
      'schema', n.nspname,
      'table', c.relname,
      'column', a.attname,
      'pk_position', (SELECT k.ord FROM pg_catalog.pg_constraint pc,
                        unnest(pc.conkey) WITH ORDINALITY AS k(att, ord)
                      WHERE pc.conrelid = d.oid AND pc.contype = 'p' AND k.att = d.attnum),
      'pk_len', (SELECT cardinality(pc.conkey) FROM pg_catalog.pg_constraint pc
                 WHERE pc.conrelid = d.oid AND pc.contype = 'p')
    ) ORDER BY d.oid, d.attnum)
    FROM view_deps d
    JOIN pg_catalog.pg_class c ON c.oid = d.oid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = d.oid AND a.attnum = d.attnum
  ), '[]'),
  'role_settings', coalesce((SELECT items FROM role_settings), '[]')
)::text
