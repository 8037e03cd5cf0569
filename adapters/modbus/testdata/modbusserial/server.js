// An independent Modbus RTU slave for the interoperability test: npm modbus-serial's
// ServerSerial on a serial port (a socat pty), unit 1, serving the registers in the JSON
// file given as third argument: {"holding": {"addr": value}, "input": {...}, "coil":
// {"addr": true}, "discrete": {...}}. Unmapped addresses answer exception 2.
// Usage: node server.js <port> <registers.json>
"use strict";
const fs = require("fs");
const ModbusRTU = require("modbus-serial");

const [, , path, file] = process.argv;
const regs = JSON.parse(fs.readFileSync(file, "utf8"));

function get(area, addr) {
  const v = (regs[area] || {})[String(addr)];
  if (v === undefined) {
    const err = new Error("illegal data address");
    err.modbusErrorCode = 2;
    throw err;
  }
  return v;
}

const vector = {
  getHoldingRegister: (addr) => get("holding", addr),
  getInputRegister: (addr) => get("input", addr),
  getCoil: (addr) => get("coil", addr),
  getDiscreteInput: (addr) => get("discrete", addr),
};

const server = new ModbusRTU.ServerSerial(vector, {
  path, baudRate: 9600, parity: "none", unitID: 1, interval: 5,
  openCallback: (err) => {
    if (err) {
      console.error("open " + path + ": " + err.message);
      process.exit(1);
    }
    console.log("ready");
  },
});
server.on("error", (err) => console.error("server error: " + err.message));
process.on("SIGTERM", () => process.exit(0));
