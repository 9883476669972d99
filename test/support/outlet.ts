// An outlet that records what a receiver hands it, for tests of the pipeline without Node-RED.
import type { AcceptedDelivery, AnswerRecord, EventMessage, Outlet, RejectionMessage } from "../../nodes/receive/messages.js";

export interface RecordingOutlet<Event> extends Outlet<Event> {
    /** What went to output 1 and output 2. */
    readonly events: EventMessage<Event>[];
    readonly rejections: RejectionMessage[];
    /** How many times emit() was called. */
    calls: number;
    /** Every delivery once answered or refused, as the delivery log would record it. */
    readonly deliveries: AnswerRecord[];
    /** The delivery objects it was handed, answered or refused. */
    readonly accepted: AcceptedDelivery<Event>[];
}

export interface RecordingOptions {
    /** What emit's check returns: whether the messages still reach the next nodes. */
    arrive?: () => boolean;
    /** Thrown by emit() for a delivery with events (a bug in the node side). */
    emitThrows?: Error;
}

export function recordingOutlet<Event>({ arrive = () => true, emitThrows }: RecordingOptions = {}): RecordingOutlet<Event> {
    const outlet: RecordingOutlet<Event> = {
        events: [],
        rejections: [],
        calls: 0,
        deliveries: [],
        accepted: [],
        keeps: false,
        keep: () => Promise.resolve(),
        emit(delivery) {
            outlet.calls++;
            if (emitThrows && delivery.events.length) throw emitThrows;
            outlet.events.push(...delivery.events);
            outlet.rejections.push(...delivery.rejections);
            return arrive;
        },
        answered(delivery) {
            outlet.accepted.push(delivery);
            const { info } = delivery;
            outlet.deliveries.push({
                ...info,
                remoteAddress: delivery.remoteAddress,
                status: delivery.answer.status,
                accepted: delivery.events.length,
                duplicates: delivery.duplicates,
                rejected: delivery.invalid,
                firstNewKey: delivery.firstNewKey,
                firstRepeatedKey: delivery.firstRepeatedKey,
                ...(delivery.replayOf !== undefined ? { replayOf: delivery.replayOf } : {}),
            });
        },
        refused(record, message, accepted) {
            if (accepted) outlet.accepted.push(accepted);
            outlet.rejections.push(message);
            outlet.deliveries.push(record);
        },
    };
    return outlet;
}
