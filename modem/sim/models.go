package sim

// Model is a modem the simulator behaves like.
type Model struct {
	Manufacturer string // AT+CGMI
	Name         string // AT+CGMM
	Revision     string // AT+CGMR
	// Vendor selects the vendor's own commands and URCs: "quectel"
	// (AT+QCCID, AT+QPINC, AT+QCSQ, AT+QCFG="usbnet", +QIND) or "simcom"
	// (AT+CICCID, AT+SPIC, AT+CPSI?, AT+CUSBPIDSWITCH).
	Vendor string
	// VendorID and ProductID are the USB IDs (for discovery tests).
	VendorID, ProductID string
}

// The models lapsebox supports.
var (
	EC25 = Model{Manufacturer: "Quectel", Name: "EC25", Revision: "EC25EFAR06A06M4G", Vendor: "quectel",
		VendorID: "2c7c", ProductID: "0125"}
	SIM7600 = Model{Manufacturer: "SIMCOM INCORPORATED", Name: "SIMCOM_SIM7600E-H", Revision: "LE20B04SIM7600M22",
		Vendor: "simcom", VendorID: "1e0e", ProductID: "9001"}
)
