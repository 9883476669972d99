/** Node paths: which a node may listen on, their normal form, and a request path's segments. */

/**
 * Characters and segments a node path may not hold: a backslash (read as "/" by URL parsers),
 * white space and control characters (dropped by some, kept by others), "?" and "#", and
 * "." or ".." segments. Any of them could make a URL built from the path mean another place.
 */
const UNSAFE_PATH = /[\\?#\s\u0000-\u001f\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]|(^|\/)\.{1,2}(\/|$)/;

/** Whether `path`, as typed, is one a node may listen on. */
export function isSafePath(path: string): boolean {
    return !UNSAFE_PATH.test(path);
}

/** "wms/" → "/wms"; "", or an unsafe path, → undefined. */
export function normalisePath(path: unknown): string | undefined {
    if (typeof path !== "string" || !isSafePath(path)) return undefined;
    const segments = path.split("/").filter(Boolean);
    if (segments.length === 0) return undefined;
    return `/${segments.join("/")}`;
}

export function decodeSegments(pathname: string): string[] | undefined {
    try {
        return pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
        return undefined; // malformed percent-encoding: not one of ours
    }
}
