package registry

// Default value-added rates (增加值率: value added ÷ output value) per division of
// GB/T 4754-2017, used for an enterprise whose registry entry gives no rate and whose
// industry the registry's value_added_rates table does not cover.
//
// Source: National Bureau of Statistics, China Statistical Yearbook 2012, table 2-28
// "投入产出直接消耗系数表 (2007年)" (https://www.stats.gov.cn/sj/ndsj/2012/html/C0228C.HTM):
// for each of the 17 sectors of the 2007 national input-output table, the rate is
// 1 − 中间投入合计 (total input = intermediate input + value added), rounded to three
// decimals. The sectors are mapped to the divisions of GB/T 4754-2017 as listed below.
// These are national averages of 2007, coarse on purpose: a province replaces them with
// its statistics bureau's rates (registry key value_added_rates, by section, division
// or class) or gives each enterprise its own (value_added_rate).
var defaultValueAddedRates = func() map[int]float64 {
	m := map[int]float64{}
	set := func(rate float64, divisions ...[2]int) {
		for _, d := range divisions {
			for i := d[0]; i <= d[1]; i++ {
				m[i] = rate
			}
		}
	}
	set(0.586, [2]int{1, 5})                   // 农、林、牧、渔业 (中间投入 0.4138389)
	set(0.473, [2]int{6, 12})                  // 采矿业 (0.5270950)
	set(0.244, [2]int{13, 16})                 // 食品、饮料制造及烟草制品业 (0.7564404)
	set(0.207, [2]int{17, 19})                 // 纺织、服装及皮革产品制造业 (0.7932456)
	set(0.308, [2]int{20, 24}, [2]int{41, 43}) // 其他制造业: wood, furniture, paper, printing, stationery and sports goods, other, waste recycling, repair (0.6917530)
	set(0.179, [2]int{25, 25}, [2]int{45, 45}) // 炼焦、燃气及石油加工业 (0.8208455)
	set(0.203, [2]int{26, 29})                 // 化学工业: chemicals, pharmaceuticals, chemical fibres, rubber and plastics (0.7968838)
	set(0.275, [2]int{30, 30})                 // 非金属矿物制品业 (0.7252926)
	set(0.198, [2]int{31, 33})                 // 金属产品制造业: ferrous and non-ferrous smelting, metal products (0.8018351)
	set(0.192, [2]int{34, 40})                 // 机械设备制造业: general and special equipment, vehicles, electrical, electronics, instruments (0.8077526)
	set(0.286, [2]int{44, 44}, [2]int{46, 46}) // 电力、热力及水的生产和供应业 (0.7135170)
	set(0.231, [2]int{47, 50})                 // 建筑业 (0.7686057)
	set(0.495, [2]int{53, 60}, [2]int{63, 65}) // 运输仓储邮政、信息传输、计算机服务和软件业 (0.5053435)
	set(0.525, [2]int{51, 52}, [2]int{61, 62}) // 批发零售贸易、住宿和餐饮业 (0.4753673)
	set(0.607, [2]int{70, 72})                 // 房地产业、租赁和商务服务业 (0.3928012)
	set(0.689, [2]int{66, 69})                 // 金融业 (0.3105453)
	set(0.489, [2]int{73, 97})                 // 其他服务业 (0.5114445)
	return m
}()

// DefaultValueAddedRate returns the documented default rate of a division (34 →
// 0.192), or 0 for a division GB/T 4754-2017 does not have.
func DefaultValueAddedRate(division int) float64 { return defaultValueAddedRates[division] }
