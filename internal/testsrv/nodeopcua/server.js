"use strict";
// An OPC UA server shaped like an OPC 40501 (MachineTool) / OPC 40001 (Machinery) server,
// for the gateway's integration tests. It is not a full companion-specification server:
// it builds the parts of the address space a client browses and monitors:
//
//   Objects/Machines                                (Machinery, FolderType)
//     M1, M2                                        (vendor namespace, MachineToolType)
//       Identification/Manufacturer                 (DI)
//       MachineryBuildingBlocks/MachineryItemState  (Machinery)
//         CurrentState (LocalizedText) [/Number]    (namespace 0; Number only on M1)
//       MachineryBuildingBlocks/MachineryOperationMode  (Machinery)
//         CurrentState (LocalizedText)              (namespace 0; no Number, as in OPC 40001-1)
//       Monitoring/MachineTool                      (MachineTool)
//         OperationMode (MachineOperationMode)
//         MachineryItemState/CurrentState           (Machinery / namespace 0; M1 only, as
//                                                   OPC 40501 v1.03 adds it there too)
//         OperationCounters/PartsProducedInLifetime (DI / MachineTool, UInt64, writable)
//       Monitoring/Channel1                         (MachineTool, ChannelMonitoringType)
//         ChannelState (ChannelState)               (MachineTool)
//       Monitoring/Spindle                          (MachineTool, SpindleMonitoringType)
//         IsRotating, Override                      (MachineTool)
//         ActSpeed                                  (vendor namespace, Double)
//       Production/Statistics/PartsProducedInLifetime (MachineTool, UInt64; M1 only)
//       Production/ActiveProgram/State/CurrentState[/Number] (MachineTool / namespace 0;
//                                                  M1 only)
//     P1                                            (vendor namespace: an OPC 40001-1
//                                                   machine that is no machine tool)
//       MachineryBuildingBlocks/MachineryItemState/CurrentState (LocalizedText "NotExecuting")
//
// Arguments (all --key=value): port, modules (the node_modules folder holding
// node-opcua), pki (certificate folder), pad (extra namespaces
// registered before the companion ones, so that their indexes move between runs),
// parts (PartsProducedInLifetime of M1; M2 has parts+1000), policies (comma-separated
// security policy names besides None, each offered in Sign and SignAndEncrypt; empty: None
// only), nonone (1: no None endpoint), users (user:password,... ; set: anonymous login is
// refused), userpki (certificate folder for X.509 user logins; its trusted/certs holds the
// accepted user certificates), certout (file to write the server's DER certificate to),
// maxsessions (the server's session limit; default node-opcua's), hostile (1: adds a
// machine M3 whose names try to inject into what the gateway prints and emits; see
// hostile() below).
// Client certificates are trusted when pki/trusted/certs holds them; others are rejected
// (into pki/rejected) unless no security policy is offered.
const path = require("path");

const args = {};
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z]+)=(.*)$/.exec(a);
  if (m) args[m[1]] = m[2];
}
const {
  OPCUAServer, OPCUACertificateManager, DataType, Variant, VariantArrayType, LocalizedText,
  SecurityPolicy, MessageSecurityMode, nodesets, DataValue, StatusCodes,
} = require(args.modules ? path.join(args.modules, "node-opcua") : "node-opcua");
const port = Number(args.port);
const pad = Number(args.pad || 0);
const parts = BigInt(args.parts || 0);
const pki = args.pki || path.join(process.cwd(), "pki");

const DI = "http://opcfoundation.org/UA/DI/";
const MACHINERY = "http://opcfoundation.org/UA/Machinery/";
const MACHINETOOL = "http://opcfoundation.org/UA/MachineTool/";
const VENDOR = "urn:ganlink:testsrv:machines";

// variable adds a read-only variable with a constant value to namespace ns.
function variable(ns, options, dataType, value) {
  return ns.addVariable(Object.assign({
    minimumSamplingInterval: 100,
    value: { get: () => new Variant({ dataType, arrayType: VariantArrayType.Scalar, value }) },
  }, options));
}

// writable adds a variable to namespace ns that holds value until a client writes
// another one of the same data type.
function writable(ns, options, dataType, value) {
  let current = new Variant({ dataType, arrayType: VariantArrayType.Scalar, value });
  return ns.addVariable(Object.assign({
    minimumSamplingInterval: 100,
    value: {
      get: () => current,
      set: (v) => {
        if (v.dataType !== dataType) return StatusCodes.BadTypeMismatch;
        current = v;
        return StatusCodes.Good;
      },
    },
  }, options));
}

async function main() {
  const policies = (args.policies || "").split(",").filter((p) => p !== "").map((p) => {
    if (!(p in SecurityPolicy)) throw new Error("unknown security policy " + p);
    return SecurityPolicy[p];
  });
  const securityPolicies = args.nonone === "1" ? policies : [SecurityPolicy.None, ...policies];
  const securityModes = [];
  if (args.nonone !== "1") securityModes.push(MessageSecurityMode.None);
  if (policies.length > 0) securityModes.push(MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt);
  const users = {};
  for (const u of (args.users || "").split(",").filter((u) => u !== "")) {
    const i = u.indexOf(":");
    users[u.slice(0, i)] = u.slice(i + 1);
  }
  const certificateManager = new OPCUACertificateManager({ rootFolder: pki, automaticallyAcceptUnknownCertificate: policies.length === 0 });
  const options = {
    port,
    host: "127.0.0.1",
    hostname: "127.0.0.1",
    nodeset_filename: [nodesets.standard],
    serverCertificateManager: certificateManager,
    securityPolicies,
    securityModes,
    allowAnonymous: Object.keys(users).length === 0,
    serverInfo: { applicationUri: "urn:ganlink:testsrv:machinetool", productUri: "urn:ganlink:testsrv" },
    buildInfo: { productName: "ganlink test machine tool server" },
  };
  if (args.maxsessions) options.serverCapabilities = { maxSessions: Number(args.maxsessions) };
  if (Object.keys(users).length > 0) {
    options.userManager = { isValidUser: (name, password) => users[name] === password };
  }
  if (args.userpki) {
    options.userCertificateManager = new OPCUACertificateManager({ rootFolder: args.userpki, automaticallyAcceptUnknownCertificate: false });
  }
  const server = new OPCUAServer(options);
  await server.initialize();
  if (args.certout) require("fs").writeFileSync(args.certout, server.getCertificate());
  const as = server.engine.addressSpace;
  for (let i = 0; i < pad; i++) as.registerNamespace("urn:ganlink:testsrv:pad" + i);
  const di = as.registerNamespace(DI);
  const mach = as.registerNamespace(MACHINERY);
  const mt = as.registerNamespace(MACHINETOOL);
  const vendor = as.registerNamespace(VENDOR);

  const machineToolType = mt.addObjectType({ browseName: "MachineToolType", nodeId: "i=13" });
  const spindleType = mt.addObjectType({ browseName: "SpindleMonitoringType", nodeId: "i=22" });
  const channelType = mt.addObjectType({ browseName: "ChannelMonitoringType", nodeId: "i=16" });
  const channelState = mt.addEnumerationType({ browseName: "ChannelState", nodeId: "i=64", enumeration: ["Active", "Interrupted", "Reset"] });
  const operationMode = mt.addEnumerationType({
    browseName: "MachineOperationMode",
    nodeId: "i=65",
    enumeration: ["Manual", "Automatic", "Setup", "AutoWithManualIntervention", "Service", "Other"],
  });

  const machines = mach.addFolder(as.rootFolder.objects, { browseName: "Machines", nodeId: "i=1001" });
  const specs = [
    { name: "M1", parts: parts, state: "Executing", number: 3, mode: 1, speed: 1200.5, rotating: true, opMode: "Processing", channel: 0, production: true },
    { name: "M2", parts: parts + 1000n, state: "NotExecuting", number: null, mode: 2, speed: 0, rotating: false, opMode: "Setup", channel: 1, production: false },
  ];
  const own = as.getOwnNamespace();
  for (const s of specs) {
    const id = (suffix) => "s=" + s.name + suffix;
    const m = vendor.addObject({ organizedBy: machines, browseName: s.name, nodeId: id(""), typeDefinition: machineToolType });

    const ident = di.addObject({ componentOf: m, browseName: "Identification", nodeId: id(".Identification") });
    variable(di, { propertyOf: ident, browseName: "Manufacturer", nodeId: id(".Manufacturer"), dataType: "LocalizedText" },
      DataType.LocalizedText, new LocalizedText({ text: "Ganlink" }));

    const blocks = mach.addObject({ componentOf: m, browseName: "MachineryBuildingBlocks", nodeId: id(".MachineryBuildingBlocks") });
    const itemState = mach.addObject({ componentOf: blocks, browseName: "MachineryItemState", nodeId: id(".MachineryItemState") });
    const current = variable(own, {
      componentOf: itemState, browseName: { name: "CurrentState", namespaceIndex: 0 }, nodeId: id(".CurrentState"), dataType: "LocalizedText",
    }, DataType.LocalizedText, new LocalizedText({ text: s.state }));
    if (s.number !== null) {
      variable(own, { propertyOf: current, browseName: { name: "Number", namespaceIndex: 0 }, nodeId: id(".CurrentState.Number"), dataType: "UInt32" },
        DataType.UInt32, s.number);
    }
    const opModeSM = mach.addObject({ componentOf: blocks, browseName: "MachineryOperationMode", nodeId: id(".MachineryOperationMode") });
    variable(own, {
      componentOf: opModeSM, browseName: { name: "CurrentState", namespaceIndex: 0 }, nodeId: id(".MachineryOperationMode.CurrentState"), dataType: "LocalizedText",
    }, DataType.LocalizedText, new LocalizedText({ text: s.opMode }));

    const monitoring = mt.addObject({ componentOf: m, browseName: "Monitoring", nodeId: id(".Monitoring") });
    const tool = mt.addObject({ componentOf: monitoring, browseName: "MachineTool", nodeId: id(".MachineTool") });
    variable(mt, { componentOf: tool, browseName: "OperationMode", nodeId: id(".OperationMode"), dataType: operationMode },
      DataType.Int32, s.mode);
    if (s.production) {
      const toolState = mach.addObject({ componentOf: tool, browseName: "MachineryItemState", nodeId: id(".MachineTool.MachineryItemState") });
      variable(own, {
        componentOf: toolState, browseName: { name: "CurrentState", namespaceIndex: 0 }, nodeId: id(".MachineTool.MachineryItemState.CurrentState"), dataType: "LocalizedText",
      }, DataType.LocalizedText, new LocalizedText({ text: s.state }));
    }
    const counters = di.addObject({ componentOf: tool, browseName: "OperationCounters", nodeId: id(".OperationCounters") });
    writable(mt, { componentOf: counters, browseName: "PartsProducedInLifetime", nodeId: id(".PartsProducedInLifetime"), dataType: "UInt64" },
      DataType.UInt64, [Number(s.parts >> 32n), Number(s.parts & 0xffffffffn)]);
    const channel = mt.addObject({ componentOf: monitoring, browseName: "Channel1", nodeId: id(".Channel1"), typeDefinition: channelType });
    variable(mt, { componentOf: channel, browseName: "ChannelState", nodeId: id(".Channel1.ChannelState"), dataType: channelState },
      DataType.Int32, s.channel);
    const spindle = mt.addObject({ componentOf: monitoring, browseName: "Spindle", nodeId: id(".Spindle"), typeDefinition: spindleType });
    variable(mt, { componentOf: spindle, browseName: "IsRotating", nodeId: id(".Spindle.IsRotating"), dataType: "Boolean" },
      DataType.Boolean, s.rotating);
    variable(mt, { componentOf: spindle, browseName: "Override", nodeId: id(".Spindle.Override"), dataType: "Double" },
      DataType.Double, 100);
    variable(vendor, { componentOf: spindle, browseName: "ActSpeed", nodeId: id(".Spindle.ActSpeed"), dataType: "Double" },
      DataType.Double, s.speed);
    if (s.production) {
      const production = mt.addObject({ componentOf: m, browseName: "Production", nodeId: id(".Production") });
      const statistics = mt.addObject({ componentOf: production, browseName: "Statistics", nodeId: id(".Statistics") });
      variable(mt, { componentOf: statistics, browseName: "PartsProducedInLifetime", nodeId: id(".Statistics.PartsProducedInLifetime"), dataType: "UInt64" },
        DataType.UInt64, [Number(s.parts >> 32n), Number(s.parts & 0xffffffffn)]);
      const program = mt.addObject({ componentOf: production, browseName: "ActiveProgram", nodeId: id(".ActiveProgram") });
      const programState = mt.addObject({ componentOf: program, browseName: "State", nodeId: id(".ActiveProgram.State") });
      const programCurrent = variable(own, {
        componentOf: programState, browseName: { name: "CurrentState", namespaceIndex: 0 }, nodeId: id(".ActiveProgram.State.CurrentState"), dataType: "LocalizedText",
      }, DataType.LocalizedText, new LocalizedText({ text: "Running" }));
      variable(own, { propertyOf: programCurrent, browseName: { name: "Number", namespaceIndex: 0 }, nodeId: id(".ActiveProgram.State.CurrentState.Number"), dataType: "UInt32" },
        DataType.UInt32, 1);
    }
  }
  const press = vendor.addObject({ organizedBy: machines, browseName: "P1", nodeId: "s=P1" });
  const pressBlocks = mach.addObject({ componentOf: press, browseName: "MachineryBuildingBlocks", nodeId: "s=P1.MachineryBuildingBlocks" });
  const pressState = mach.addObject({ componentOf: pressBlocks, browseName: "MachineryItemState", nodeId: "s=P1.MachineryItemState" });
  variable(own, {
    componentOf: pressState, browseName: { name: "CurrentState", namespaceIndex: 0 }, nodeId: "s=P1.CurrentState", dataType: "LocalizedText",
  }, DataType.LocalizedText, new LocalizedText({ text: "NotExecuting" }));
  if (args.hostile === "1") hostile(as, machines, machineToolType, spindleType, mt, vendor);
  await server.start();
  console.log("ready " + server.getEndpointUrl() + " namespaces " + as.getNamespaceArray().map((n) => n.namespaceUri).join(" "));
  const stop = async () => {
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

// INJECT is appended to names: a newline followed by what would be a device entry in
// the emitted YAML, a NUL and an ANSI colour sequence for the terminal.
const INJECT = "\n  - id: injected\n    kind: cnc\n\u0000\u001b[31m";

// hostile adds, for the tests of gateway browse against hostile servers, a machine M3
// in the namespace "urn:ganlink:testsrv:evil;s=M1" (a URI with ";"), with a node id, a
// browse name, a spindle browse name and a custom data type name that each carry
// INJECT, and a variable whose browse name is 1100 characters long.
function hostile(as, machines, machineToolType, spindleType, mt, vendor) {
  const evil = as.registerNamespace("urn:ganlink:testsrv:evil;s=M1");
  const m = evil.addObject({ organizedBy: machines, browseName: "M3" + INJECT, nodeId: "s=M3" + INJECT, typeDefinition: machineToolType });
  const monitoring = mt.addObject({ componentOf: m, browseName: "Monitoring", nodeId: "s=M3.Monitoring" });
  const tool = mt.addObject({ componentOf: monitoring, browseName: "MachineTool", nodeId: "s=M3.MachineTool" });
  const counters = evil.addObject({ componentOf: tool, browseName: "OperationCounters", nodeId: "s=M3.OperationCounters" });
  variable(mt, { componentOf: counters, browseName: "PartsProducedInLifetime", nodeId: "s=M3.PartsProducedInLifetime", dataType: "UInt64" },
    DataType.UInt64, [0, 3]);
  // Named like a spindle, without a speed variable: its name goes into a note.
  const spindle = evil.addObject({ componentOf: monitoring, browseName: "Spindle" + INJECT, nodeId: "s=M3.Spindle", typeDefinition: spindleType });
  variable(mt, { componentOf: spindle, browseName: "IsRotating", nodeId: "s=M3.Spindle.IsRotating", dataType: "Boolean" }, DataType.Boolean, true);
  // A text variable of a custom data type: the type's name goes into a comment.
  const evilType = evil.addEnumerationType({ browseName: "EvilType" + INJECT, nodeId: "i=77", enumeration: ["A", "B"] });
  const panel = evil.addObject({ organizedBy: as.rootFolder.objects, browseName: "Panel" + INJECT, nodeId: "s=Panel" });
  variable(evil, { componentOf: panel, browseName: "Text", nodeId: "s=Panel.Text", dataType: evilType }, DataType.String, "x");
  variable(evil, { componentOf: panel, browseName: "L".repeat(1100), nodeId: "s=Panel.Long", dataType: "Double" }, DataType.Double, 1.5);
  variable(evil, { componentOf: panel, browseName: "Temp", nodeId: "s=Panel.Temp" + INJECT, dataType: "Double" }, DataType.Double, 20);
  // Values: a string of 1 MiB, and an Uncertain status without a value.
  variable(evil, { componentOf: panel, browseName: "Big", nodeId: "s=Panel.Big", dataType: "String" }, DataType.String, "x".repeat(1 << 20));
  evil.addVariable({
    componentOf: panel, browseName: "UncertainNull", nodeId: "s=Panel.UncertainNull", dataType: "Double", minimumSamplingInterval: 100,
    value: { timestamped_get: () => new DataValue({ value: new Variant({ dataType: DataType.Null }), statusCode: StatusCodes.UncertainNoCommunicationLastUsableValue, sourceTimestamp: new Date() }) },
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
