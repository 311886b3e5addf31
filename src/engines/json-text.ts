/**
 * A JSON value still in its text form, as the source returned it. Only reads
 * that ask for it (`RangeRead.jsonText`) get it, and only writers that know
 * it receive it (the PostgreSQL COPY path writes the text as is). Anything
 * else that serialises it with `JSON.stringify` gets the parsed value.
 */
export class JsonText {
  constructor(readonly text: string) {}

  /** The parsed value. */
  value(): unknown {
    return JSON.parse(this.text)
  }

  toJSON(): unknown {
    return this.value()
  }
}
