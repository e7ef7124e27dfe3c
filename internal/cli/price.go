package cli

import (
	"regexp"
	"time"

	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
)

// priceFlags are rgrid worker's price: what the machine costs, so that
// each job's cost can be counted.
type priceFlags struct {
	price, currency string
	billing         time.Duration
}

func (p *priceFlags) add(f *pflag.FlagSet) {
	f.StringVar(&p.price, "price-per-hour", "", "what this machine costs per hour, e.g. 0.02: each job is charged it times its share of the machine (default: unpriced, jobs cost nothing)")
	f.StringVar(&p.currency, "currency", "EUR", "the ISO 4217 code of --price-per-hour's currency")
	f.DurationVar(&p.billing, "billing-period", 0, "how the machine is billed: 1h for hourly billing (paid time rounds up to it in the idle line of rgrid cost); default per second")
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// pricing is the flags' client.Pricing, nil when no price is set.
func (p *priceFlags) pricing() (*client.Pricing, error) {
	if p.price == "" {
		return nil, nil
	}
	micros, err := money.Parse(p.price, 1_000_000)
	if err != nil {
		return nil, userErr("give --price-per-hour as a decimal amount, e.g. --price-per-hour 0.02", "--price-per-hour: %v", err)
	}
	if !currencyCode.MatchString(p.currency) {
		return nil, userErr("give --currency as a three-letter ISO 4217 code, e.g. --currency EUR", "--currency %q is not a currency code", p.currency)
	}
	if p.billing < 0 || p.billing%time.Second != 0 || p.billing > 31*24*time.Hour {
		return nil, userErr("give --billing-period in whole seconds up to a month, e.g. --billing-period 1h", "--billing-period %v is not a billing period", p.billing)
	}
	return &client.Pricing{PriceMicrosPerHour: micros, Currency: p.currency, BillingSeconds: int64(p.billing / time.Second)}, nil
}
