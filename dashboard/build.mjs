// Builds dist/ (index.html, app.js, app.css) for embedding in the node binary.
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const dist = new URL("./dist/", import.meta.url);
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const common = { bundle: true, minify: true, legalComments: "eof", logLevel: "info" };
await esbuild.build({
  ...common,
  entryPoints: ["src/app.js"],
  outfile: "dist/app.js",
  format: "iife",
  target: ["es2020"],
});
await esbuild.build({ ...common, entryPoints: ["src/app.css"], outfile: "dist/app.css" });
await copyFile(new URL("./src/index.html", import.meta.url), new URL("index.html", dist));
