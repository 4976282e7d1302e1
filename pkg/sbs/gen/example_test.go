package gen_test

import (
	"fmt"
	"strings"

	"github.com/gochatter/gochatter/pkg/sbs/gen"
)

// Generate Go code for a schema and list the types it declares.
func ExampleGenerate() {
	src, err := gen.Generate(gen.Config{
		Package: "shop",
		Files: []gen.File{{Name: "shop.sbs", Text: `module Shop
Entry(K, V) = Tuple { key: K, value: V }
Order = Tuple {
    id: Integer
    note: Maybe(String)
    lines: Array(Entry(String, Integer))
    payment: Union { cash: None, card: Tuple { number: String } }
}
`}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for line := range strings.Lines(string(src)) {
		if strings.HasPrefix(line, "type ") || strings.HasPrefix(line, "\t") && strings.Contains(line, "`sbs:") {
			fmt.Print(line)
		}
	}
	// Output:
	// type ShopEntryStringInteger struct {
	// 	Key   string `sbs:"key"`
	// 	Value int64  `sbs:"value"`
	// type ShopOrder struct {
	// 	Id      int64                    `sbs:"id"`
	// 	Note    *string                  `sbs:"note"`
	// 	Lines   []ShopEntryStringInteger `sbs:"lines"`
	// 	Payment ShopOrderPayment         `sbs:"payment"`
	// type ShopOrderPayment struct {
	// 	Cash *struct{}             `sbs:"cash"`
	// 	Card *ShopOrderPaymentCard `sbs:"card"`
	// type ShopOrderPaymentCard struct {
	// 	Number string `sbs:"number"`
}
