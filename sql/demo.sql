-- The todos/users demo that `make run` loads and the end-to-end tests build on.
-- Idempotent: it can be run again on a cluster that already has it.
--
-- Roles (the PostgREST model):
--   authenticator  LOGIN NOINHERIT, not a superuser: the pgrest workers connect as it
--   web_anon       the role of requests without a JWT: sees and changes every todo
--   web_user       the role of JWTs with "role": "web_user": sees only the todos of its user_id claim

SET client_min_messages = warning;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOSUPERUSER;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_anon') THEN
    CREATE ROLE web_anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_user') THEN
    CREATE ROLE web_user NOLOGIN;
  END IF;
END
$$;

GRANT web_anon TO authenticator;
GRANT web_user TO authenticator;

CREATE EXTENSION IF NOT EXISTS pgrest;

CREATE SCHEMA IF NOT EXISTS api;
GRANT USAGE ON SCHEMA api TO web_anon, web_user;

CREATE TABLE IF NOT EXISTS api.users (
  id   integer PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE IF NOT EXISTS api.todos (
  id         serial PRIMARY KEY,
  done       boolean NOT NULL DEFAULT false,
  task       text NOT NULL,
  due        timestamptz,
  user_id    integer REFERENCES api.users (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON api.users, api.todos TO web_anon, web_user;
GRANT USAGE ON SEQUENCE api.todos_id_seq TO web_anon, web_user;

ALTER TABLE api.todos ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS todos_anon ON api.todos;
CREATE POLICY todos_anon ON api.todos TO web_anon USING (true) WITH CHECK (true);

DROP POLICY IF EXISTS todos_owner ON api.todos;
CREATE POLICY todos_owner ON api.todos TO web_user
  USING (user_id = (current_setting('request.jwt.claims', true)::json ->> 'user_id')::integer)
  WITH CHECK (user_id = (current_setting('request.jwt.claims', true)::json ->> 'user_id')::integer);

INSERT INTO api.users (id, name) VALUES (1, 'Alice'), (42, 'Zaphod')
ON CONFLICT (id) DO NOTHING;

INSERT INTO api.todos (id, done, task, due, user_id)
VALUES
  (1, false, 'finish tutorial 0', NULL, 1),
  (2, false, 'pat self on back', NULL, 1),
  (3, true, 'buy milk', '2026-01-01 10:00:00+00', 42),
  (4, false, 'answer the ultimate question', '2026-12-31 23:59:00+00', 42)
ON CONFLICT (id) DO NOTHING;

SELECT setval('api.todos_id_seq', greatest((SELECT max(id) FROM api.todos), 1));

-- A function as an endpoint: POST /rpc/complete_all_for_user {"user_id": 1}
CREATE OR REPLACE FUNCTION api.complete_all_for_user(user_id integer) RETURNS SETOF api.todos
  LANGUAGE sql VOLATILE
  AS $$ UPDATE api.todos t SET done = true
        WHERE t.user_id = complete_all_for_user.user_id AND NOT t.done
        RETURNING t.* $$;
GRANT EXECUTE ON FUNCTION api.complete_all_for_user(integer) TO web_anon, web_user;
