import type { NodeAPI } from "node-red";
import { registerReceiverNode } from "./core/receiver-node.js";
import { wms } from "./providers/wms.js";

export = (RED: NodeAPI): void => registerReceiverNode(RED, "wms-webhook", wms);
