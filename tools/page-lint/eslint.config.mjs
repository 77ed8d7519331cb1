// ESLint's recommended rules for the pages' scripts: classic browser scripts, not modules.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser },
    },
  },
  {
    // ONNX Runtime Web's global, from the script the drawing page loads before draw.js.
    files: ["**/demo_page/draw.js"],
    languageOptions: { globals: { ort: "readonly" } },
  },
];
