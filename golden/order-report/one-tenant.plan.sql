-- clawc plan for task `t-77` (purpose `order-report`): login role "clawc-t-77", grant set "clawc_gs_d08e9a8935e28af3"
-- plan sha256 4476a0e7a18abbc1d809ff5c6faf662fe72edff9c19a8f1053f0f7776d3f12df; clawc fills :'password_verifier' (a SCRAM-SHA-256 verifier, never the password) and :'valid_until'
BEGIN;
SET LOCAL standard_conforming_strings = on;
SET LOCAL search_path = pg_catalog, pg_temp;
SET LOCAL lock_timeout = '10s';
DO $clawc$ BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CREATE') THEN
    RAISE EXCEPTION 'clawc: PUBLIC may CREATE in a schema of this database, so a task role could own objects; REVOKE CREATE ON SCHEMA ... FROM PUBLIC first';
  END IF;
END $clawc$;
DO $clawc$ BEGIN
  IF pg_catalog.to_regprocedure('clawc_scope.value(text)') IS NULL THEN
    PERFORM pg_catalog.pg_advisory_xact_lock(7164208272635818087);
    CREATE SCHEMA IF NOT EXISTS "clawc_scope";
    REVOKE ALL ON SCHEMA "clawc_scope" FROM PUBLIC;
    CREATE TABLE IF NOT EXISTS "clawc_scope".task_scope (role_name text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (role_name, key));
    REVOKE ALL ON TABLE "clawc_scope".task_scope FROM PUBLIC;
    IF pg_catalog.to_regprocedure('clawc_scope.value(text)') IS NULL THEN
      CREATE FUNCTION "clawc_scope".value(key text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $value$ SELECT value FROM "clawc_scope".task_scope WHERE role_name = session_user AND key = $1 $value$;
      REVOKE ALL ON FUNCTION "clawc_scope".value(text) FROM PUBLIC;
    END IF;
  END IF;
  IF (SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = 'clawc_scope') <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
     OR (SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'clawc_scope.task_scope'::regclass) <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
     OR (SELECT proowner FROM pg_catalog.pg_proc WHERE oid = 'clawc_scope.value(text)'::regprocedure) <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'clawc: the clawc_scope schema, its table or its function is owned by another role; the row scope cannot be trusted';
  END IF;
END $clawc$;
DO $clawc$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'clawc_gs_d08e9a8935e28af3') THEN
    PERFORM pg_catalog.pg_advisory_xact_lock(7164208272635818087);
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'clawc_gs_d08e9a8935e28af3') THEN
    CREATE ROLE "clawc_gs_d08e9a8935e28af3" NOLOGIN;
    COMMENT ON ROLE "clawc_gs_d08e9a8935e28af3" IS 'clawc grant set, database shop, purpose order-report';
    GRANT USAGE ON SCHEMA "sales" TO "clawc_gs_d08e9a8935e28af3";
    GRANT SELECT ("id", "tenant_id", "total") ON TABLE "sales"."order_items" TO "clawc_gs_d08e9a8935e28af3";
    GRANT SELECT ("id", "tenant_id", "total") ON TABLE "sales"."orders" TO "clawc_gs_d08e9a8935e28af3";
    GRANT USAGE ON SCHEMA "clawc_scope" TO "clawc_gs_d08e9a8935e28af3";
    GRANT EXECUTE ON FUNCTION "clawc_scope".value(text) TO "clawc_gs_d08e9a8935e28af3";
    CREATE POLICY "clawc_gs_d08e9a8935e28af3" ON "sales"."order_items" AS PERMISSIVE FOR ALL TO "clawc_gs_d08e9a8935e28af3" USING (true) WITH CHECK (true);
    CREATE POLICY "clawc_gs_d08e9a8935e28af3_rows" ON "sales"."order_items" AS RESTRICTIVE FOR ALL TO "clawc_gs_d08e9a8935e28af3" USING ("tenant_id"::text = "clawc_scope".value('tenant_id')) WITH CHECK ("tenant_id"::text = "clawc_scope".value('tenant_id'));
    CREATE POLICY "clawc_gs_d08e9a8935e28af3" ON "sales"."orders" AS PERMISSIVE FOR ALL TO "clawc_gs_d08e9a8935e28af3" USING (true) WITH CHECK (true);
    CREATE POLICY "clawc_gs_d08e9a8935e28af3_rows" ON "sales"."orders" AS RESTRICTIVE FOR ALL TO "clawc_gs_d08e9a8935e28af3" USING ("tenant_id"::text = "clawc_scope".value('tenant_id')) WITH CHECK ("tenant_id"::text = "clawc_scope".value('tenant_id'));
  END IF;
END $clawc$;
DO $clawc$ BEGIN
  IF NOT (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = '"sales"."order_items"'::regclass) THEN
    RAISE EXCEPTION 'clawc: row-level security is off for sales.order_items, so `rows` would limit nothing';
  END IF;
END $clawc$;
DO $clawc$ BEGIN
  IF NOT (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = '"sales"."orders"'::regclass) THEN
    RAISE EXCEPTION 'clawc: row-level security is off for sales.orders, so `rows` would limit nothing';
  END IF;
END $clawc$;
CREATE ROLE "clawc-t-77" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 4 PASSWORD :'password_verifier' VALID UNTIL :'valid_until' IN ROLE "clawc_gs_d08e9a8935e28af3";
ALTER ROLE "clawc-t-77" SET statement_timeout = '300s';
ALTER ROLE "clawc-t-77" SET idle_in_transaction_session_timeout = '60s';
INSERT INTO "clawc_scope".task_scope (role_name, key, value) VALUES ('clawc-t-77', 'tenant_id', 't-acme');
COMMENT ON ROLE "clawc-t-77" IS 'clawc task t-77, purpose order-report, database shop, plan sha256 4476a0e7a18abbc1d809ff5c6faf662fe72edff9c19a8f1053f0f7776d3f12df';
COMMIT;
