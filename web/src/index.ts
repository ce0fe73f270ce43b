// The whole kit: the client and the React hook and components.
// `bookkeeper-jobs-web/client` is the client alone (no React import).
export * from "./client/index.js";
export * from "./react/index.js";
