// types.test.mjs - tsc --noEmit over the hand-written declarations and a
// typed usage file (test/typed-usage.ts) that imports the package by its
// published names (@pipetrack/client, @pipetrack/client/react).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");

test("tsc --noEmit: the declarations and the typed usage file check under strict", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", join(pkg, "tsconfig.json")], { cwd: pkg, encoding: "utf8", timeout: 60000 });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

test("the declarations name every runtime export, and the runtime every declared one", async () => {
  const ts = (await import("typescript")).default;
  for (const [entry, dts] of [["../src/index.js", "src/index.d.ts"], ["../src/react.js", "src/react.d.ts"]]) {
    const runtime = Object.keys(await import(entry)).sort();
    const src = ts.createSourceFile(dts, (await import("node:fs")).readFileSync(join(pkg, dts), "utf8"), ts.ScriptTarget.ES2022);
    const declared = [];
    for (const s of src.statements) {
      const exported = s.modifiers && s.modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      const isValue = ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s) || ts.isVariableStatement(s);
      if (!exported || !isValue) continue;
      if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) declared.push(d.name.getText(src));
      else declared.push(s.name.getText(src));
    }
    assert.deepEqual([...new Set(declared)].sort(), runtime, entry);
  }
});
