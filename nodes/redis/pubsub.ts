/**
 * Publish and subscribe among the instances sharing a Redis: one subscriber connection (a
 * duplicate of the client, as Redis requires for a subscription), opened on first use.
 */

/** Publish to a channel, and subscribe to one with a subscription that can end. */
export interface PubSub {
    publish(channel: string, message: string): Promise<unknown>;
    subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<unknown>>;
}

/** The slice of a node-redis client pub/sub uses. */
export interface RedisPubSubClient {
    publish(channel: string, message: string): Promise<unknown>;
    duplicate(): RedisSubscriberClient;
}
export interface RedisSubscriberClient {
    connect(): Promise<unknown>;
    subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
    unsubscribe(channel: string, listener?: (message: string) => void): Promise<unknown>;
    on(event: "error", listener: (error: Error) => void): unknown;
    close(): Promise<unknown>;
}

export function redisPubSub(client: RedisPubSubClient, onError: (error: Error) => void = () => {}): PubSub & { close(): Promise<unknown> } {
    let subscriber: Promise<RedisSubscriberClient> | undefined;
    const connected = () =>
        (subscriber ??= (async () => {
            const duplicate = client.duplicate();
            duplicate.on("error", onError);
            await duplicate.connect();
            return duplicate;
        })());
    return {
        publish: (channel, message) => client.publish(channel, message),
        async subscribe(channel, listener) {
            const connection = await connected();
            await connection.subscribe(channel, listener);
            return () => connection.unsubscribe(channel, listener);
        },
        async close() {
            const connection = await subscriber?.catch(() => undefined);
            subscriber = undefined;
            await connection?.close().catch(() => undefined);
        },
    };
}
