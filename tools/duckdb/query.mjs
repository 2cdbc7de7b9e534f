// Runs one SQL query in an in-memory DuckDB and prints the rows as JSON. $DIR in the query is
// replaced by the first argument, a local folder holding a downloaded archive.
import { DuckDBInstance } from '@duckdb/node-api';

const [, , dir, sql] = process.argv;
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const result = await conn.runAndReadAll(sql.replaceAll('$DIR', dir));
console.log(JSON.stringify(result.getRowObjectsJson()));
