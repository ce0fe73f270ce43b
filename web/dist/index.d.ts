export * from "./client/index.js";
export * from "./react/index.js";
