// The editor's RED, as the browser tests reach into it from page.evaluate (code that runs in
// the page): only what they use, typed as the editor has it.
interface EditorNode {
    id: string;
    type: string;
    z: string;
    [property: string]: unknown;
}

interface EditorLink {
    source: EditorNode;
    sourcePort: number;
    target: EditorNode;
}

declare const RED: {
    nodes: {
        filterNodes(filter: { type?: string; z?: string }): EditorNode[];
        eachNode(callback: (node: EditorNode) => boolean | void): void;
        eachConfig(callback: (node: EditorNode) => boolean | void): void;
        remove(id: string): unknown;
        eachLink(callback: (link: EditorLink) => boolean | void): void;
        eachWorkspace(callback: (workspace: { id: string; label: string }) => boolean | void): void;
        node(id: string): (EditorNode & { valid?: boolean; validationErrors?: string[] }) | null;
        import(nodes: object[]): unknown;
        dirty(dirty: boolean): void;
        getType(type: string): { paletteLabel?: string | ((this: unknown) => string) } & Record<string, unknown>;
    };
    workspaces: { show(id: string): void; active(): string; add(): unknown };
    view: { redraw(full?: boolean): void };
    clipboard: { copyText(value: string, element?: unknown, message?: string): boolean };
    sidebar: { show(id: string): void };
    settings: { telemetryEnabled?: boolean };
};
