// In-memory HTTP exchanges for the pipeline: a request that is a real readable stream (its
// body written at the test's pace) and a response that records what was answered.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeader, ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import type { Receiver, RoutedRequest } from "../../nodes/receive/pipeline.js";

interface RequestOptions {
    method?: string | undefined;
    headers?: IncomingHttpHeaders | undefined;
    remoteAddress?: string | undefined;
}

class FakeRequest extends PassThrough {
    readonly method: string;
    readonly headers: IncomingHttpHeaders;
    readonly socket: { remoteAddress: string; destroy?: () => void };

    constructor({ method = "POST", headers = {}, remoteAddress = "203.0.113.7" }: RequestOptions = {}) {
        super();
        this.method = method;
        this.headers = { "content-type": "application/json", ...headers };
        this.socket = { remoteAddress };
    }
}

class FakeResponse {
    readonly headers: Record<string, OutgoingHttpHeader> = {};
    headersSent = false;
    status = 0;
    text: string | undefined = undefined;
    private resolveAnswered!: (response: FakeResponse) => void;
    readonly answered = new Promise<FakeResponse>((resolve) => (this.resolveAnswered = resolve));

    setHeader(name: string, value: OutgoingHttpHeader): void {
        this.headers[name.toLowerCase()] = value;
    }

    writeHead(status: number, headers: Record<string, OutgoingHttpHeader> = {}): void {
        this.status = status;
        for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
        this.headersSent = true;
    }

    end(text: string | Buffer = ""): void {
        this.text = String(text);
        this.resolveAnswered(this);
    }

    /** The answer's body, parsed: a test reads the fields it asserts on. */
    get json(): Record<string, unknown> {
        return JSON.parse(this.text ?? "null") as Record<string, unknown>;
    }
}

/** The in-memory pair as the pipeline's request: what it reads of them is all these have. */
function routed(req: FakeRequest, res: FakeResponse, where: Pick<RoutedRequest, "path" | "extraPath" | "query">): RoutedRequest {
    return { req: req as unknown as IncomingMessage, res: res as unknown as ServerResponse, ...where };
}

export interface ExchangeOptions extends RequestOptions {
    path?: string[];
    extraPath?: string[];
    query?: string;
}

/**
 * A request for `receiver` with `body` (a string, Buffer, or undefined to leave the body
 * unfinished); resolves once the receiver is done with it.
 */
async function exchange<Event, Options, Keys>(
    receiver: Receiver<Event, Options, Keys>,
    body: string | Buffer | undefined,
    { method, headers, remoteAddress, path = ["hook"], extraPath = [], query = "" }: ExchangeOptions = {},
): Promise<FakeResponse> {
    const req = new FakeRequest({ method, headers, remoteAddress });
    const res = new FakeResponse();
    if (body !== undefined) req.end(body);
    await receiver.handle(routed(req, res, { path, extraPath, query }));
    return res;
}

export { FakeRequest, FakeResponse, exchange, routed };
