-- Least privileges of the account `retire` uses on MySQL 8.0/8.4 and MariaDB 10.6+.
-- Run as an administrator: Part 1 on every server, then Part 2a on MySQL or Part 2b on
-- MariaDB (they differ only in names of privileges that MySQL made dynamic). Parts 3 and 4
-- are optional. Replace 'retire'@'%' by the account of the connection profile, and restrict the
-- host to the worker's network if you can. The password is given to the worker through
-- password_env / password_file, never here.
--
-- Why the privileges are global (ON *.*): a retirement may target any database on the
-- server, and `retire` learns which one only from the request. The adapter refuses system
-- schemas (mysql, sys, information_schema, performance_schema) and validates and quotes every
-- identifier, so these privileges are used only on the database being retired.
--
-- deployments/grants_test.go applies Parts 1 and 2 to the local server and runs a whole
-- retirement (plan, sample, cut by revoke and by rename, restore access, export, restore
-- into a scratch database, drop, verify) as that account, so what is here is what is needed.

------------------------------------------------------------------------------------------
-- Part 1: MySQL and MariaDB
------------------------------------------------------------------------------------------
CREATE USER IF NOT EXISTS 'retire'@'%' IDENTIFIED BY 'change-me';

-- Plan, sampling, export and verification read.
GRANT SELECT ON *.* TO 'retire'@'%';
--   row counts, table scans for the export, CHECKSUM TABLE of a test restore. Global SELECT
--   also covers what inventorying access needs: SHOW GRANTS FOR and SHOW CREATE USER of other
--   accounts and the grant tables (mysql.db, mysql.tables_priv, mysql.procs_priv, mysql.user)
--   require SELECT on the mysql schema, on both servers; it also shows routine bodies
--   (SHOW CREATE PROCEDURE/FUNCTION: MySQL accepts global SELECT in place of SHOW_ROUTINE,
--   MariaDB before 11.3 reads them from mysql.proc). This does let the account read password
--   hashes in mysql.user; the adapter never selects them and refuses to record any SHOW GRANTS
--   line that holds authentication data.
GRANT SHOW VIEW ON *.* TO 'retire'@'%';           -- SHOW CREATE VIEW for views.sql
GRANT TRIGGER ON *.* TO 'retire'@'%';             -- see triggers in information_schema.TRIGGERS, SHOW CREATE TRIGGER; recreate them on restore
GRANT EVENT ON *.* TO 'retire'@'%';               -- see events in information_schema.EVENTS, SHOW CREATE EVENT; recreate them on restore
GRANT PROCESS ON *.* TO 'retire'@'%';             -- the whole processlist (sampling sees every client, not just its own sessions)
-- Not needed: LOCK TABLES (the export runs after access is cut: nobody else writes), RELOAD
-- and FLUSH (no FLUSH TABLES WITH READ LOCK), SHOW DATABASES (global SELECT already shows every
-- database), FILE (restores use LOAD DATA LOCAL: the rows come from the worker, not the server's disk),
-- REPLICATION CLIENT/SLAVE, SUPER.

-- Cut access (strategy revoke) and give it back (objection, cancellation, failure).
GRANT CREATE USER ON *.* TO 'retire'@'%';
--   ALTER USER ... ACCOUNT LOCK / ACCOUNT UNLOCK of accounts whose only access was this database.
--   (It also allows CREATE/DROP/RENAME USER; retire never issues them.)
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER,
      CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW,
      CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER
   ON *.* TO 'retire'@'%' WITH GRANT OPTION;
--   REVOKE needs GRANT OPTION *and* every privilege it revokes: a grantor can only take away
--   (and give back) what it holds itself, at the same or a wider level. The cut revokes
--   exactly what SHOW GRANTS printed for the accounts that reach the database, which may be
--   any database-, table-, column- or routine-level privilege (`GRANT ALL ON shop.*` is all of
--   the above), so the account holds them all, globally. WITH GRANT OPTION here re-grants the
--   privileges of the Part 1 lines above with the option; LOCK TABLES is in the list only
--   because application accounts hold it and it must be revocable.
--   Be clear about what this means: global INSERT, UPDATE, DELETE, DROP and ALTER include the
--   mysql schema itself, so this account could rewrite the grant tables and is, in effect, as
--   powerful as an administrator (and ALTER USER would work through UPDATE on mysql.* even
--   without CREATE USER). That is inherent in "revoke any grant on any database". To narrow
--   it: on MySQL 8.0.16+, SET PERSIST partial_revokes = ON and then
--     REVOKE INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE VIEW,
--            CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER ON mysql.* FROM 'retire'@'%';
--   (CREATE USER then carries ALTER USER, which is why it is granted above; untested here, as
--   no MySQL 8 runs on our build machines); on MariaDB, which
--   has no partial revokes, keep the account's password in a vault, restrict its host, and
--   audit it. Granting the privileges per database (ON `orders_2019`.* WITH GRANT OPTION,
--   before each retirement) also works in principle but is not what the test covers.
--   If you use only `--strategy rename`, leave GRANT OPTION and CREATE USER out: renaming needs
--   CREATE (the quarantine schema), ALTER, DROP and INSERT (RENAME TABLE between schemas).
--   Each of those is in this list:
--     DROP                DROP DATABASE of the retired database (and of an empty quarantine schema,
--                         and of the scratch database of a test restore)
--     CREATE, ALTER, INSERT   strategy rename (RENAME TABLE needs ALTER+DROP on the old table,
--                         CREATE+INSERT on the new); `retire restore` and the verify-restore gate:
--                         CREATE DATABASE/TABLE, LOAD DATA LOCAL INFILE
--     REFERENCES          foreign keys in restored tables (MySQL 8.0.22+ checks it)
--     CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE   views and routines of a restore
--     INDEX               CREATE INDEX statements in restored DDL

------------------------------------------------------------------------------------------
-- Part 2a: MySQL 8.0.16+ / 8.4 only
------------------------------------------------------------------------------------------
GRANT CONNECTION_ADMIN ON *.* TO 'retire'@'%';
--   KILL CONNECTION of other accounts' sessions after the cut (and before a rename, whose
--   metadata locks they would hold). SUPER would also do, and is deprecated.
-- Do not grant SYSTEM_USER. Accounts that hold it (administrators) can then not be locked or
-- have their sessions killed by retire, which is right: revoking cannot cut them off anyway
-- (they show in the plan as global-privilege holders).
-- MySQL 8 ships with local_infile=OFF: `retire restore` and the verify-restore gate need
--   SET PERSIST local_infile = 1;
-- on the server that restores (not a privilege: a server setting).

------------------------------------------------------------------------------------------
-- Part 2b: MariaDB 10.6+ only
------------------------------------------------------------------------------------------
GRANT CONNECTION ADMIN ON *.* TO 'retire'@'%';
--   KILL CONNECTION of other accounts' sessions (MariaDB 10.5.2 split it out of SUPER).
GRANT DELETE HISTORY ON *.* TO 'retire'@'%' WITH GRANT OPTION;
--   a database-level privilege on MariaDB (system-versioned tables), part of `ALL PRIVILEGES
--   ON db.*`: to revoke such a grant, retire must hold it too.
-- MariaDB 11.3+ also has SHOW CREATE ROUTINE at database level, in ALL PRIVILEGES; there add:
--   GRANT SHOW CREATE ROUTINE ON *.* TO 'retire'@'%' WITH GRANT OPTION;

------------------------------------------------------------------------------------------
-- Part 3 (optional): usage evidence the account switches on itself
------------------------------------------------------------------------------------------
-- With `sampling: {enable: [table-counters]}` in the connection profile, retire runs
-- SET GLOBAL userstat=ON for the retirement and puts it back afterwards (MariaDB), which
-- needs SUPER on MariaDB. Without it, switch userstat on yourself (SET GLOBAL userstat=1, and
-- userstat=1 in my.cnf) and leave sampling.enable out. The metadata_lock_info plugin
-- (INSTALL SONAME 'metadata_lock_info', as an administrator) needs no grant to be read, and
-- the server_audit log is read from the file the profile names (sampling.audit_log).
--   MariaDB:  GRANT SUPER ON *.* TO 'retire'@'%';

------------------------------------------------------------------------------------------
-- Part 4 (optional): restoring objects that other accounts defined
------------------------------------------------------------------------------------------
-- Views, routines, triggers and events are restored with the DEFINER they had. When that is
-- another account, creating them needs (a strong privilege: it lets retire run code as that
-- account; grant it only to a restore account, or only while restoring):
--   MySQL 8.2+:    GRANT SET_ANY_DEFINER ON *.* TO 'retire'@'%';
--   MySQL 8.0/8.1: GRANT SET_USER_ID ON *.* TO 'retire'@'%';
--   MariaDB:       GRANT SET USER ON *.* TO 'retire'@'%';
-- With binary logging on, creating stored functions also needs log_bin_trust_function_creators=1
-- (or SUPER): set it on the server that restores.
-- Without these, restore data and tables only: retire restore ... --tables a,b
