import type {ColumnType, LogicalType} from '../types.js'

/** Maps information_schema COLUMN_TYPE (plus whether MariaDB marks it JSON) to a logical type. */
export function mysqlLogicalType(columnType: string, isJson: boolean): ColumnType & {unsupported?: boolean} {
  const n = columnType.toLowerCase().trim()
  let m: RegExpExecArray | null
  if (isJson || n === 'json') return {type: 'json'}
  if (/^(tinyint\(1\)|bool|boolean)( unsigned)?$/.test(n)) return {type: 'boolean'}
  if (/^(tinyint|smallint)(\(\d+\))?( unsigned)?( zerofill)?$/.test(n)) return {type: n.startsWith('smallint') && n.includes('unsigned') ? 'integer' : 'smallint'}
  if (/^(mediumint|int|integer)(\(\d+\))?( unsigned)?( zerofill)?$/.test(n)) return {type: n.includes('unsigned') && !n.startsWith('mediumint') ? 'bigint' : 'integer'}
  if (/^bigint(\(\d+\))?( unsigned)?( zerofill)?$/.test(n)) return n.includes('unsigned') ? {type: 'decimal', precision: 20, scale: 0} : {type: 'bigint'}
  if ((m = /^(?:decimal|numeric)(?:\((\d+)(?:,(\d+))?\))?( unsigned)?/.exec(n))) return {type: 'decimal', precision: Number(m[1] ?? 10), scale: Number(m[2] ?? 0)}
  if (/^float(\(\d+\))?( unsigned)?$/.test(n)) return {type: 'real'}
  if (/^(double|real)( precision)?(\(\d+,\d+\))?( unsigned)?$/.test(n)) return {type: 'double'}
  if ((m = /^varchar\((\d+)\)$/.exec(n))) return {type: 'varchar', precision: Number(m[1])}
  if ((m = /^char\((\d+)\)$/.exec(n))) return {type: Number(m[1]) === 36 ? 'char' : 'char', precision: Number(m[1])}
  if (/^(tiny|medium|long)?text$/.test(n)) return {type: 'text'}
  if (/^uuid$/.test(n)) return {type: 'uuid'}
  if (n === 'date') return {type: 'date'}
  if ((m = /^time(?:\((\d)\))?$/.exec(n))) return {type: 'time', precision: Number(m[1] ?? 0)}
  if ((m = /^datetime(?:\((\d)\))?$/.exec(n))) return {type: 'timestamp', precision: Number(m[1] ?? 0)}
  if ((m = /^timestamp(?:\((\d)\))?$/.exec(n))) return {type: 'timestamptz', precision: Number(m[1] ?? 0)}
  if (/^(tiny|medium|long)?blob$/.test(n) || /^(var)?binary\(\d+\)$/.test(n)) return {type: 'binary'}
  return {type: 'text', unsupported: true}
}

/** The MySQL/MariaDB type the tool creates for a logical type. */
export function mysqlNativeType(t: ColumnType, isKey = false): string {
  const p = t.precision
  const map: Record<LogicalType, string> = {
    boolean: 'BOOLEAN',
    smallint: 'SMALLINT',
    integer: 'INT',
    bigint: 'BIGINT',
    decimal: `DECIMAL(${p ?? 38},${t.scale ?? (p ? 0 : 10)})`,
    real: 'FLOAT',
    double: 'DOUBLE',
    text: isKey ? 'VARCHAR(255)' : 'LONGTEXT',
    varchar: p ? `VARCHAR(${p})` : isKey ? 'VARCHAR(255)' : 'LONGTEXT',
    char: `CHAR(${p ?? 1})`,
    date: 'DATE',
    time: `TIME(${Math.min(p ?? 6, 6)})`,
    timestamp: `DATETIME(${Math.min(p ?? 6, 6)})`,
    timestamptz: `DATETIME(${Math.min(p ?? 6, 6)})`,
    json: 'JSON',
    uuid: 'CHAR(36)',
    binary: isKey ? 'VARBINARY(255)' : 'LONGBLOB',
  }
  return map[t.type]
}
