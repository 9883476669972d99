// Where things are: the tests run compiled, from dist/test/, three folders below the package.
import path = require("node:path");

export const PACKAGE_ROOT = path.resolve(__dirname, "..", "..", "..");
export const DIST = path.join(PACKAGE_ROOT, "dist");
