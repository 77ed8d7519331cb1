// The standard config's rules for the pages' stylesheets.
export default {
  extends: ["stylelint-config-standard"],
  rules: {
    // (min-width: 700px) works in every browser; the range form (width >= 700px) needs Safari 16.4.
    "media-feature-range-notation": "prefix",
  },
};
