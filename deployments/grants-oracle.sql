-- Least privileges of the account `retire` uses on Oracle (12.2 and later: 19c, 21c, 23ai).
-- Run as a DBA. Replace RETIRE by the account of the connection profile.
--
-- Part 1 retires schemas (users with their tablespaces): create the account in the database
-- (or PDB) that holds them. Part 2 retires whole pluggable databases and needs a separate,
-- common account in CDB$ROOT. Part 3 is only for `retire restore` and the verify-restore gate.
-- The password is given to the worker through password_env / password_file, never here.

------------------------------------------------------------------------------------------
-- Part 1: retiring a schema
------------------------------------------------------------------------------------------
CREATE USER retire IDENTIFIED BY "change-me" ACCOUNT UNLOCK;

GRANT CREATE SESSION TO retire;                     -- log in; every call opens and closes its own session

-- The plan and the checks read the dictionary. Every view is named, so nothing else is readable.
GRANT SELECT ON sys.dba_users TO retire;            -- the target exists, is not Oracle-maintained; account status before the cut
GRANT SELECT ON sys.dba_roles TO retire;            -- leave Oracle-maintained roles out of the holders of ANY privileges
GRANT SELECT ON sys.dba_objects TO retire;          -- object counts by type, PL/SQL to export, what is left after the drop
GRANT SELECT ON sys.dba_tables TO retire;           -- the tables to count and export; tables without segments in a tablespace
GRANT SELECT ON sys.dba_external_tables TO retire;  -- external tables hold no data to archive
GRANT SELECT ON sys.dba_tab_cols TO retire;         -- column names and types for the export (invisible columns included)
GRANT SELECT ON sys.dba_tab_identity_cols TO retire;-- identity columns to handle when loading a restore
GRANT SELECT ON sys.dba_segments TO retire;         -- bytes per table and owner; which owners have data in a tablespace
GRANT SELECT ON sys.dba_lobs TO retire;             -- LOB segments count in a table's bytes
GRANT SELECT ON sys.dba_indexes TO retire;          -- index bytes; the indexes to export
GRANT SELECT ON sys.dba_views TO retire;            -- views of the schema
GRANT SELECT ON sys.dba_triggers TO retire;         -- triggers of the schema, and triggers of others on its tables
GRANT SELECT ON sys.dba_sequences TO retire;        -- sequences to export
GRANT SELECT ON sys.dba_scheduler_jobs TO retire;   -- scheduler jobs (shown as events; exported apart)
GRANT SELECT ON sys.dba_tab_privs TO retire;        -- grants on the schema's objects: snapshot, revoke, restore
GRANT SELECT ON sys.dba_col_privs TO retire;        -- column grants on the schema's tables
GRANT SELECT ON sys.dba_sys_privs TO retire;        -- accounts with ANY privileges reach every schema: warned about
GRANT SELECT ON sys.dba_synonyms TO retire;         -- synonyms in other schemas that point into this one: warned about
GRANT SELECT ON sys.dba_dependencies TO retire;     -- objects in other schemas that depend on this one: warned about
GRANT SELECT ON sys.dba_constraints TO retire;      -- foreign keys from other schemas; foreign keys to export
GRANT SELECT ON sys.dba_tablespaces TO retire;      -- tablespace status before and after the cut; gone after the drop
GRANT SELECT ON sys.dba_data_files TO retire;       -- datafiles and bytes of the schema's tablespaces
GRANT SELECT ON sys.database_properties TO retire;  -- the database default tablespaces are never dropped
GRANT SELECT ON sys.nls_database_parameters TO retire; -- database character set for the archive manifest
GRANT SELECT ON sys.product_component_version TO retire; -- server version for the manifest
GRANT SELECT ON sys.v_$datafile TO retire;          -- the datafiles are gone after the drop
GRANT SELECT ON sys.gv_$session TO retire;          -- who is connected, on every RAC instance (sampling, killing)
-- Usage evidence (README "Usage evidence"): who holds the schema's objects, per-table counters,
-- and the audit trails for attempts after the cut.
GRANT SELECT ON sys.gv_$locked_object TO retire;    -- sessions of any account holding the schema's rows locked
GRANT SELECT ON sys.gv_$access TO retire;           -- objects running statements hold in the library cache
GRANT SELECT ON sys.v_$containers TO retire;        -- the PDB name of each session
GRANT SELECT ON sys.gv_$segment_statistics TO retire; -- logical reads and block changes per table segment
GRANT SELECT ON sys.gv_$instance TO retire;         -- instance startups: the counters' epoch
GRANT SELECT ON sys.gv_$pdbs TO retire;             -- a PDB's open time: its counters' epoch
GRANT SELECT ON sys.v_$parameter TO retire;         -- audit_trail, statistics_level
GRANT SELECT ON sys.dba_audit_trail TO retire;      -- traditional auditing: failed logons and object access
GRANT SELECT ON sys.dba_stmt_audit_opts TO retire;  -- whether AUDIT SESSION is on
GRANT SELECT ON sys.dba_obj_audit_opts TO retire;   -- whether the schema's objects are audited
GRANT SELECT ON sys.v_$option TO retire;            -- whether unified auditing is on

-- Only with a Diagnostics Pack licence (Config.DiagnosticsPack): catches sessions too short for gv$session.
GRANT SELECT ON sys.gv_$active_session_history TO retire; -- licensed: leave this line out without the pack

GRANT AUDIT_VIEWER TO retire;                       -- unified_audit_trail: LOGON records of the schema's user between looks

-- Export.
GRANT READ ANY TABLE TO retire;                     -- row counts and table scans of the target (READ: unlike SELECT ANY TABLE it cannot lock rows)
GRANT SELECT_CATALOG_ROLE TO retire;                -- DBMS_METADATA returns DDL of another schema's objects only with this role
GRANT EXECUTE ON sys.dbms_metadata TO retire;       -- GET_DDL / GET_DEPENDENT_DDL for schema/*.sql (public by default; explicit here)

-- Cut, restore, drop.
GRANT ALTER USER TO retire;                         -- ACCOUNT LOCK during observation, ACCOUNT UNLOCK on restore
GRANT GRANT ANY OBJECT PRIVILEGE TO retire;         -- revoke the grants on the schema's objects, and give them back
GRANT ALTER TABLESPACE TO retire;                   -- READ ONLY / OFFLINE during observation, back on restore
GRANT ALTER SYSTEM TO retire;                       -- ALTER SYSTEM KILL SESSION (Oracle has no narrower privilege for it)
GRANT DROP USER TO retire;                          -- DROP USER ... CASCADE
GRANT DROP TABLESPACE TO retire;                    -- DROP TABLESPACE ... INCLUDING CONTENTS AND DATAFILES

------------------------------------------------------------------------------------------
-- Part 2: retiring a pluggable database (object "pdb:NAME")
------------------------------------------------------------------------------------------
-- ALTER PLUGGABLE DATABASE ... OPEN/CLOSE and DROP PLUGGABLE DATABASE need an administrative
-- privilege exercised at connect time (AS SYSDBA or AS SYSOPER). A SYSOPER session sees the
-- dictionary as PUBLIC and could not read v$pdbs, gv$session or cdb_data_files, so the PDB
-- profile connects AS SYSDBA: params: {"DBA PRIVILEGE": "SYSDBA"}. SYSDBA is every power in the
-- CDB: give it to an account used only by this profile, and only where PDBs are retired.
CREATE USER c##retire_pdb IDENTIFIED BY "change-me" CONTAINER = ALL;
GRANT CREATE SESSION TO c##retire_pdb CONTAINER = ALL;  -- log in to CDB$ROOT
GRANT SYSDBA TO c##retire_pdb CONTAINER = ALL;          -- CLOSE IMMEDIATE / OPEN / SAVE|DISCARD STATE INSTANCES=ALL, DROP PLUGGABLE DATABASE INCLUDING DATAFILES
-- Read as SYS under SYSDBA: v$pdbs, dba_pdbs, dba_pdb_saved_states, cdb_users, cdb_data_files,
-- v$datafile, gv$session, gv$active_session_history (the licence rule above applies).
-- The archive of a PDB also runs under SYSDBA: OPEN READ ONLY RESTRICTED (only RESTRICTED
-- SESSION holders, i.e. this account, can connect while it is exported), ALTER SESSION SET
-- CONTAINER into it, its dictionary, DBMS_METADATA and every table of its schemas; then
-- CLOSE IMMEDIATE again. Nothing is written into the PDB.

------------------------------------------------------------------------------------------
-- Part 3: restoring from the archive: `retire restore`, and the verify-restore gate
------------------------------------------------------------------------------------------
-- `retire restore` can use a separate account (its own connection profile). The gate
-- (--verify restore) runs with the retirement's own profile, so with it this account needs
-- these too. The restore creates a new user with no password login (NO AUTHENTICATION from
-- 18c; a random, expired password and a locked account before) and a quota on one
-- tablespace, grants it nothing, and replays DBMS_METADATA DDL into it as this account.
-- The gate's scratch users are named RETIRE$V_<schema>; DROP USER (part 1) drops them, and
-- retire never drops any other user it restored into. Checksums read both schemas with
-- READ ANY TABLE (part 1). No password: retire never connects as a restored schema.
-- A PDB's profile (part 2) connects to CDB$ROOT, where local users cannot be created: restore
-- a PDB's archive through a profile connected to a PDB or a non-CDB.
-- GRANT CREATE USER TO retire;               -- the schema to restore into, with its quota
-- GRANT CREATE ANY TABLE TO retire;          -- schema/<table>.sql
-- GRANT CREATE ANY INDEX TO retire;          -- indexes.sql
-- GRANT CREATE ANY SEQUENCE TO retire;       -- sequences.sql (replayed before the tables)
-- GRANT CREATE ANY VIEW TO retire;           -- views.sql
-- GRANT CREATE ANY PROCEDURE TO retire;      -- routines.sql (and CREATE ANY TYPE for object types)
-- GRANT CREATE ANY TRIGGER TO retire;        -- triggers.sql
-- GRANT CREATE ANY SYNONYM TO retire;        -- synonyms.sql
-- GRANT ALTER ANY TABLE TO retire;           -- constraints.sql; identity columns switched for the load and back
-- GRANT INSERT ANY TABLE TO retire;          -- the rows
-- GRANT ALTER ANY PROCEDURE TO retire;       -- DBMS_UTILITY.COMPILE_SCHEMA after PL/SQL replayed out of order
-- (No UNLIMITED TABLESPACE: the restored schema's own quota pays for its segments.)
