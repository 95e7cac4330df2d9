"Tests of bench/child_process.py: an object built and called in a fresh process, as the benchmarks' reference arm is."
import os, sys, unittest
from importlib import import_module
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'bench'))
from child_process import InChildProcess, measured  # noqa: E402


class TestMeasured(unittest.TestCase):
    def test_a_block_that_writes_fresh_memory_has_page_faults(self):
        with measured() as usage: data = b'x' * (64 << 20)
        self.assertEqual(len(data), 64 << 20)
        self.assertGreater(usage['minor_faults'], (64 << 20) // 4096 // 2)
        self.assertGreaterEqual(usage['seconds'], 0)
        self.assertGreaterEqual(usage['system_seconds'], 0)


class TestInChildProcess(unittest.TestCase):
    def test_methods_run_in_another_process(self):
        with InChildProcess(import_module, 'os') as child:
            self.assertNotEqual(child.call('getpid'), os.getpid())
            self.assertEqual(set(child.usage), {'seconds', 'minor_faults', 'system_seconds'})
            self.assertGreaterEqual(child.usage['minor_faults'], 0)

    def test_threads_and_keyword_arguments(self):
        with InChildProcess(import_module, 'torch', threads=2) as child: self.assertEqual(child.call('get_num_threads'), 2)
        with InChildProcess(dict, a=1) as child:
            self.assertEqual(child.call('get', 'a'), 1)
            self.assertEqual(child.call('get', 'b', 2), 2)

    def test_a_generator_ends_with_stop_iteration(self):
        with InChildProcess(iter, [1, 2]) as child:
            self.assertEqual([next(child), next(child)], [1, 2])
            with self.assertRaises(StopIteration): next(child)

    def test_errors_carry_the_child_traceback(self):
        with InChildProcess(dict) as child:
            with self.assertRaisesRegex(RuntimeError, "KeyError: 'missing'"): child.call('pop', 'missing')
        with self.assertRaisesRegex(RuntimeError, 'ZeroDivisionError'): InChildProcess(divmod, 1, 0)

    def test_a_child_that_dies_is_named_with_its_exit_code(self):
        with InChildProcess(import_module, 'os') as child:
            with self.assertRaisesRegex(RuntimeError, 'exit code 3'): child.call('_exit', 3)


if __name__ == '__main__':
    unittest.main()
