  ;; Misbehaves on request: `hello("trap")` traps, `hello("spin")` loops forever,
  ;; `hello("grow")` asks for 128 MiB more memory; any other name answers "still serving".
  (data (i32.const 0) "still serving")   ;; 0, 13
  (data (i32.const 16) "trap")           ;; 16
  (data (i32.const 24) "spin")           ;; 24
  (data (i32.const 32) "grow")           ;; 32
  (func $is (param $name i32) (param $len i32) (param $word i32) (result i32)
    (i32.and (i32.eq (local.get $len) (i32.const 4))
             (i32.eq (i32.load (local.get $name)) (i32.load (local.get $word)))))
  (func (export "lattice:greeter/greet@0.1.0#hello") (param $name i32) (param $len i32) (result i32)
    (if (call $is (local.get $name) (local.get $len) (i32.const 16)) (then unreachable))
    (if (call $is (local.get $name) (local.get $len) (i32.const 24))
      (then (loop $forever (br $forever))))
    (if (call $is (local.get $name) (local.get $len) (i32.const 32))
      (then (drop (memory.grow (i32.const 2048)))))
    (call $answer (i32.const 0) (i32.const 13)))
