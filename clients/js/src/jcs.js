// jcs.js - RFC 8785 canonical JSON (JCS) of a parsed JSON value: members
// sorted by UTF-16 code units, strings escaped as JSON requires and no more,
// numbers spelled as ECMAScript's Number::toString spells them.

/** Thrown for a value JSON cannot hold (NaN, Infinity, a function, a BigInt, a lone surrogate). */
export class CanonicalizationError extends TypeError {
  constructor(message) {
    super(message);
    this.name = "CanonicalizationError";
  }
}

const SHORT_ESCAPES = { 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r", 0x22: '\\"', 0x5c: "\\\\" };

function str(s) {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      // a pair passes as it is; a lone half is no Unicode text (I-JSON refuses it)
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new CanonicalizationError(`lone surrogate U+${c.toString(16).toUpperCase()} at index ${i}`);
    }
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i);
    out += SHORT_ESCAPES[c] ?? "\\u" + c.toString(16).padStart(4, "0");
    from = i + 1;
  }
  return out + s.slice(from) + '"';
}

function num(n) {
  if (!Number.isFinite(n)) throw new CanonicalizationError(`${n} is not a JSON number`);
  // String(n) is ECMAScript's Number::toString, the spelling RFC 8785 names;
  // -0 is spelled 0 there already.
  return String(n);
}

// Code-unit order: JavaScript's default string comparison, which is what
// RFC 8785 section 3.2.3 asks for (not locale order, not code points).
function byCodeUnits(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(v, depth) {
  if (depth > 1000) throw new CanonicalizationError("nested deeper than 1000 levels");
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return num(v);
    case "string":
      return str(v);
    case "object": {
      if (Array.isArray(v)) {
        let out = "[";
        for (let i = 0; i < v.length; i++) {
          if (i) out += ",";
          // as JSON.stringify does: a hole or undefined in an array is null
          out += v[i] === undefined ? "null" : write(v[i], depth + 1);
        }
        return out + "]";
      }
      if (typeof v.toJSON === "function") return write(v.toJSON(), depth + 1);
      const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort(byCodeUnits);
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        if (i) out += ",";
        out += str(keys[i]) + ":" + write(v[keys[i]], depth + 1);
      }
      return out + "}";
    }
    default:
      throw new CanonicalizationError(`a ${typeof v} is not a JSON value`);
  }
}

/**
 * The RFC 8785 canonical text of a JSON value (as JSON.parse returns it).
 * Object members whose value is undefined are left out, as JSON.stringify
 * leaves them out; `undefined` at the top is canonicalized as null.
 */
export function canonicalize(value) {
  return write(value === undefined ? null : value, 0);
}
