// Builds the dashboard (dashboard/) into the Python package, which serves it at
// /dashboard/background-jobs (src/bookkeeper_jobs/api/dashboard.py). No CDN: every file is local.
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL("./dashboard", import.meta.url)),
  // Relative URLs: the page works under any prefix a proxy mounts the API at.
  base: "./",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../src/bookkeeper_jobs/api/dashboard_dist", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
  },
  server: {
    // `npm run dev` next to `make run`: the API on :8000 answers /api.
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
