"use strict";
// A node as contrib nodes were written before Node-RED 1.0: on("input", function (msg)),
// send, and no done(). Drops messages whose payload.action is "ignore", as a filter would.
module.exports = function (RED) {
    function LegacyRelay(config) {
        RED.nodes.createNode(this, config);
        this.on("input", function (msg) {
            if (msg.payload && msg.payload.action === "ignore") return;
            this.send(msg);
        });
    }
    RED.nodes.registerType("legacy-relay", LegacyRelay);
};
