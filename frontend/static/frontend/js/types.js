/** Shapes of the REST API (docs/api.md). */
export {};
//# sourceMappingURL=types.js.map