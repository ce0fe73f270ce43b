// Builds the installable package into dist/ (ES modules and .d.ts files, plus styles.css).
// dist/ is committed so that `npm install <repo>/web` needs no build step in the consumer.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
rmSync(join(web, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [join(web, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
  cwd: web,
  stdio: "inherit",
});
copyFileSync(join(web, "src", "styles.css"), join(web, "dist", "styles.css"));
mkdirSync(join(web, "dist", "api"), { recursive: true });
copyFileSync(join(web, "src", "api", "schema.d.ts"), join(web, "dist", "api", "schema.d.ts"));
console.log("built dist/");
