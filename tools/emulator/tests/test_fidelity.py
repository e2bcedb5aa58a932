"""The fidelity report's rules: an "executed" row is shown only when its scenarios passed,
and every row falls in exactly one of the book's claim classes."""

import unittest

import fidelity
from fidelity import ABSENT, APPROXIMATED, EXECUTED, Row


class FidelityTest(unittest.TestCase):
    def test_a_scenario_with_one_failed_check_does_not_count_as_passed(self):
        rows = [("1 approved: 200", "", True), ("1 approved: receipt", "", False), ("2 decline: 200", "", True),
                ("the suite: ran to the end", "", True)]
        self.assertEqual(fidelity.scenarios_passed(rows), {"2"})

    def test_an_executed_row_whose_scenario_failed_says_so(self):
        row = Row("S", "b", EXECUTED, "how", "", ("1", "2"))
        table = fidelity.render([row], passed={"2"})
        self.assertIn("NOT SHOWN (scenario 1 did not pass)", table)
        self.assertIn("| emulated | S | b | executed |", fidelity.render([row], passed={"1", "2"}))

    def test_claim_classes(self):
        self.assertEqual(fidelity.claim_class(Row("S", "b", APPROXIMATED, "x")), "emulated, approximated")
        self.assertEqual(fidelity.claim_class(Row("S", "b", ABSENT, "not emulated; proven by cfn-guard")),
                         "proven statically")
        self.assertEqual(fidelity.claim_class(Row("S", "b", ABSENT, "not emulated")), "assumed")

    def test_every_executed_row_names_the_scenarios_that_show_it(self):
        for row in fidelity.ROWS:
            if row.status == EXECUTED:
                self.assertTrue(row.evidence, row.behaviour)


if __name__ == "__main__":
    unittest.main()
