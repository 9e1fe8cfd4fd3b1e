# Call B (merged tree): issues 25, 22, 21 on one warm machine; every section logs as it goes
source .dev/setup.sh
M=/tmp/m/l7-f16.gguf
T genmodel; vk_symbiote_genmodel --shape llama2-7b --dtype f16 --out $M 2>&1 | tail -1
F="grep -vE ^\s*$|using.cached|^device|probing"
T "25: verify-k + ngram, vram 4, pool (batched hybrid)"
timeout 100 vk_symbiote_benchmark --model $M --ram-gb 100 --vram-gb 4 -p 0 -n 32 -r 1 --verify-k 1,2,4,8,16 --ngram 96 --draft-max 8 --kv-pool-tokens 1024 2>&1 | tail -40
T "22: parallel, vram 70, small-N"
timeout 60 vk_symbiote_benchmark --model $M --ram-gb 100 --vram-gb 70 -p 0 -n 32 -r 1 --parallel 1,4,16,64 2>&1 | grep -E "^par|^tg|peak"
T "22: parallel 16, vram 70, old kernels (--smalln-tokens 0)"
timeout 40 vk_symbiote_benchmark --model $M --ram-gb 100 --vram-gb 70 -p 0 -n 32 -r 1 --parallel 16 --smalln-tokens 0 2>&1 | grep -E "^par|peak"
T "22: parallel, vram 4"
timeout 120 vk_symbiote_benchmark --model $M --ram-gb 100 --vram-gb 4 -p 0 -n 16 -r 1 --parallel 1,4,16,64 --log-level INFO 2>&1 | grep -E "^par|^tg|peak|batched pass|placement"
T "25: ngram without pool (serial)"
timeout 60 vk_symbiote_benchmark --model $M --ram-gb 100 --vram-gb 4 -p 0 -n 0 -r 1 --ngram 96 --draft-max 8 2>&1 | tail -14
rm -f $M
T "21: GGUF vs HF bf16 alternated"
vk_symbiote_genmodel --shape llama2-7b --dtype bf16 --out /tmp/m/b.gguf 2>&1 | tail -1
vk_symbiote_genmodel --shape llama2-7b --dtype bf16 --format hf --out /tmp/m/b-hf 2>&1 | tail -1
for r in 1 2 3; do for m in /tmp/m/b.gguf /tmp/m/b-hf; do
  echo "round $r $m"; timeout 60 vk_symbiote_benchmark --model $m --ram-gb 100 --vram-gb 4 -p 0 -n 32 -r 3 2>&1 | grep -E "^tg32 "
done; done
T end
