/**
 * The Lua scripts of the Redis stores live in .lua files beside the module that runs them
 * (dedup/lua/, keep/lua/), each opening with what its KEYS and ARGV are, as BullMQ keeps its
 * own. A line "-- @include <name>" takes in a shared part; {{NAME}} takes a constant of the
 * module, so the script and the code that calls it never disagree on a page size.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Comments (the KEYS/ARGV header, notes) are for people: the script sent with each call goes without them. */
function withoutComments(text: string): string {
    return text
        .replace(/--\[\[[\s\S]*?\]\]/g, "")
        .split("\n")
        .filter((line) => line.trim() !== "" && !/^\s*--(?!\s*@include)/.test(line))
        .join("\n");
}

/** Script `name` of `folder`, its includes taken in and its {{constants}} filled. */
export function luaScript(folder: string, name: string, constants: Readonly<Record<string, number>> = {}): string {
    const read = (file: string) => readFileSync(join(folder, `${file}.lua`), "utf8");
    const text = withoutComments(read(name)).replace(/^\s*-- @include ([\w-]+)\s*$/gm, (_, include: string) => withoutComments(read(include)));
    return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        const value = constants[key];
        if (value === undefined) throw new Error(`${name}.lua: no value for {{${key}}}`);
        return String(value);
    });
}
