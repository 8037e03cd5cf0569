// Package dlt645 is the gateway's DL/T 645-2007 source: it reads electricity meters on
// an RS-485 bus (the gateway's own serial port, or a serial device server in
// transparent mode reached over TCP) by their 12-digit addresses and data identifiers.
package dlt645
