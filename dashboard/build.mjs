// Builds dist/ (index.html, app.js, app.css), the assets embedded in the node binary.
//
// dist/ is committed, so building tanso needs no npm step; after editing src/, run
// `npm ci && npm run build` here and commit dist/ with the change. The test
// `dashboard_assets_match_src` rebuilds into a temporary directory (`node build.mjs OUTDIR`)
// and fails when the committed files differ.
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import path from "node:path";

const here = new URL("./", import.meta.url);
const outArg = process.argv[2];
const dist = outArg ? pathToFileURL(path.resolve(outArg) + path.sep) : new URL("./dist/", here);
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const common = { bundle: true, minify: true, legalComments: "eof", logLevel: "info", absWorkingDir: new URL(".", here).pathname };
await esbuild.build({
  ...common,
  entryPoints: ["src/app.js"],
  outfile: new URL("app.js", dist).pathname,
  format: "iife",
  target: ["es2020"],
});
await esbuild.build({ ...common, entryPoints: ["src/app.css"], outfile: new URL("app.css", dist).pathname });
await copyFile(new URL("./src/index.html", here), new URL("index.html", dist));
