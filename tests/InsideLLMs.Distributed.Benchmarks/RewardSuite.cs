using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using TorchSharp;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// The reward model from rankings of the SFT policy's own samples: the policy of the sft suite (pre-training, then
/// SFT), K = 4 completions per ranking prompt sampled from it (temperature 1 unless told), ranked by simulated annotators
/// (the preference rule, noise-free and 20% noisy), a reward model (the policy's weights with a fresh score head) trained
/// on each set of rankings, and its pairwise accuracy against the noise-free rule on completions of held-out prompts,
/// overall and on the pairs one part of the rule alone tells apart (recall split into by name, by pronoun, forgotten).
/// All in the reference trainer, the one-stage, one-replica case of the stage grains' code (reward runs on the cluster
/// equal it step for step: SftEquivalenceTests).
/// </summary>
internal static class RewardSuite
{
    private const int K = 4;

    /// <summary>The cluster's ranking prompts come from this stream of the built-in corpus (the ranking board's seed).</summary>
    private const long RankingPromptSeed = 0x5EED_0008;

    public static void Run(List<(string, string, string)> results, int threads, RewardSuiteOptions options)
    {
        var (pretrainSteps, sftSteps, prompts, rewardSteps, learningRate, cache, temperatures) =
            (options.PretrainSteps, options.SftSteps, options.Prompts, options.Steps, options.LearningRate, options.Cache, options.Temperatures);
        using var policy = Policy.Train(threads, pretrainSteps, sftSteps, 1e-3, (_, _) => 0, cache);
        var (tuned, vocabulary) = (policy.Tuned, policy.Instructions.Vocabulary);
        results.Add(("reward", "policy: pre-training + SFT steps, wall time", $"{pretrainSteps} + {sftSteps}, {policy.PretrainSeconds + policy.SftSeconds:F0} s{(policy.FromCache ? " (read from the cache)" : "")}"));
        results.Add(("reward", "identity probe (pair stories: the other name above the one named again), base / SFT policy",
            $"{(policy.BaseIdentity is { } probe ? F(probe, 3) : "(cached)")} / {F(Policy.IdentityProbe(tuned, vocabulary), 3)}"));

        var started = Stopwatch.GetTimestamp();
        var tasks = Tasks(tuned, policy.Instructions, prompts, pretrainSteps, sftSteps, cache, temperatures);
        var samplingSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        results.Add(("reward", $"rankings: prompts x completions sampled (T = {Temperatures(temperatures)}), wall time", $"{prompts} x {K}, {samplingSeconds:F0} s"));
        var tasksById = tasks.Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
        using var rewardBase = options.RewardShape is { } shape
            ? Policy.Train(threads, pretrainSteps, sftSteps, 1e-3, (_, _) => 0, cache, shape)
            : null;
        if (rewardBase is not null)
        {
            results.Add(("reward", $"reward model's own base: {rewardBase.Tuned.Config.LayerCount} layers x {rewardBase.Tuned.Config.EmbeddingSize} wide, pre-training + SFT", $"{pretrainSteps} + {sftSteps}, {rewardBase.PretrainSeconds + rewardBase.SftSeconds:F0} s{(rewardBase.FromCache ? " (read from the cache)" : "")}"));
        }

        var mixed = (IReadOnlyList<RankedCompletions>)[.. MixedRankings(tasks, options.Mixed), .. (options.Contrast ? ContrastRankings(tasks) : [])];
        IReadOnlyList<RankedCompletions> added = [.. BuiltInRankings(vocabulary, tuned.Config.BlockSize, options.BuiltIn), .. mixed];
        var truth = tasks.Select(t => (t.Id, t.Prompt, t.Completions)).Concat(added.Select(r => (r.Id, r.Prompt, Completions: r.Completions.ToArray())))
            .ToDictionary(t => t.Id, t => t.Completions.Select(c => PreferenceRule.Default.Score(t.Prompt, c)).ToArray());
        if (mixed.Count > 0)
        {
            results.Add(("reward", $"rankings added (--mixed {options.Mixed}, --contrast {options.Contrast})", $"{mixed.Count}"));
        }

        if (added.Count > mixed.Count)
        {
            results.Add(("reward", "built-in rankings added to the training set (grammar responses)", $"{added.Count - mixed.Count} (held-out prompts left out)"));
        }

        var ties = tasks.Count(t => truth[t.Id].Distinct().Count() < K);
        results.Add(("reward", "rankings whose completions the rule scores with a tie", $"{ties} of {prompts}"));
        var pairs = tasks.Sum(t => K * (K - 1) / 2);
        var tiedPairs = tasks.Sum(t => Enumerable.Range(0, K).Sum(i => Enumerable.Range(i + 1, K - i - 1).Count(j => truth[t.Id][i] == truth[t.Id][j])));
        results.Add(("reward", "completion pairs the rule ties (an annotator's order of them is arbitrary)", $"{tiedPairs} of {pairs} ({(double)tiedPairs / pairs:P0})"));

        foreach (var noise in options.Noises)
        {
            var (reward, rankings) = RewardModel(rewardBase?.Tuned ?? tuned, vocabulary, tasks, noise, threads, rewardSteps, learningRate, added, options.WeightDecay, options.BatchSize, options.FreshInit);
            using var _ = reward;
            var before = Accuracy(reward, rankings, truth);
            started = Stopwatch.GetTimestamp();
            var every = options.EvalEvery > 0 ? options.EvalEvery : Math.Max(1, rewardSteps / 6);
            var plain = options is { BuiltIn: 0, Mixed: 0, Contrast: false, FreshInit: false, RewardShape: null, WeightDecay: null, BatchSize: 16 };
            var state = plain ? RewardStatePath(cache, pretrainSteps, sftSteps, prompts, rewardSteps, noise, temperatures, learningRate) : null;
            var fromCache = state is not null && File.Exists(state);
            if (fromCache)
            {
                // Kept by an earlier run with the same arguments: measured again without training it again.
                reward.Restore(File.ReadAllBytes(state!), rewardSteps);
                Console.WriteLine($"  reward model read from {state}");
            }

            while (reward.Step < rewardSteps)
            {
                var step = reward.TrainStep();
                if (step.Step % every == 0 || step.Step == rewardSteps)
                {
                    var trainPrompts = Accuracy(reward, rankings.TrainRankings.Where(r => tasksById.Contains(r.Id)).Take(400), truth, rankings.Vocabulary);
                    Console.WriteLine(
                        $"  reward model ({(noise == 0 ? "noise-free" : $"{noise:P0}-noisy")}): step {step.Step} of {rewardSteps}, loss {step.Loss:F4}, held-out accuracy {Accuracy(reward, rankings, truth).Accuracy:F3}, " +
                        $"400 training prompts {trainPrompts.Accuracy:F3}, {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
                }
            }

            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (state is not null && !File.Exists(state))
            {
                File.WriteAllBytes(state, reward.SaveState());
                Console.WriteLine($"  reward model kept for the ppo suite: {state}");
            }

            var after = Accuracy(reward, rankings, truth);
            var labels = RewardScores.Agreement(rankings.TrainRankings.Where(r => tasksById.Contains(r.Id)).Select(r =>
                ((IReadOnlyList<double>)[.. Enumerable.Range(0, K).Select(c => (double)(K - r.PlaceOf(c)))], (IReadOnlyList<double>)truth[r.Id])));
            var normalization = RewardScores.Normalization([.. rankings.TrainRankings.Where(r => tasksById.Contains(r.Id)).SelectMany(r => RewardScores.Score(reward.Model, vocabulary, r.Prompt, r.Completions))]);
            var name = noise == 0 ? "noise-free" : $"{noise:P0}-noisy";
            results.Add(("reward", $"{name}: rankings train / held-out prompts", $"{rankings.TrainRankings.Count} / {rankings.ValidationRankings.Count}"));
            results.Add(("reward", $"{name}: the labels' own pair agreement with the rule", F(labels.Accuracy, 3)));
            results.Add(("reward", $"{name}: steps x rows, lr, wall time", $"{rewardSteps} x {options.BatchSize}, {learningRate.ToString(CultureInfo.InvariantCulture)}, {(fromCache ? "read from the cache" : $"{seconds:F0} s")}"));
            results.Add(("reward", $"{name}: held-out pairwise accuracy vs the rule, before / after", $"{F(before.Accuracy, 3)} / {F(after.Accuracy, 3)} ({after.Pairs} pairs)"));
            results.Add(("reward", $"{name}: training prompts' pairwise accuracy vs the rule, after", F(Accuracy(reward, rankings.TrainRankings.Where(r => tasksById.Contains(r.Id)), truth, rankings.Vocabulary).Accuracy, 3)));
            foreach (var (part, agreement) in AccuracyByPart(reward, rankings))
            {
                results.Add(("reward", $"{name}: held-out pairs told apart by {part}: accuracy", $"{F(agreement.Accuracy, 3)} ({agreement.Pairs} pairs)"));
            }
            results.Add(("reward", $"{name}: score normalisation on SFT samples (mean, std)", $"{F(normalization.Mean, 3)}, {F(normalization.Std, 3)}"));
        }
    }

    /// <summary>The reward model's default learning rate (the reward suite's and the ppo suite's).</summary>
    internal const double DefaultRewardLearningRate = 3e-4;

    /// <summary>
    /// Where a reward model trained on the policy's own rankings alone (the default shape and batch) is kept in
    /// <paramref name="cache"/>: the ppo suite reads it from there, and the reward suite leaves the ones it trains there.
    /// </summary>
    internal static string? RewardStatePath(
        string? cache, int pretrainSteps, int sftSteps, int prompts, int rewardSteps, double noise, IReadOnlyList<double> temperatures, double learningRate) =>
        cache is null ? null : Path.Combine(cache,
            $"reward-g{SyntheticGrammar.Version}-{pretrainSteps}-{sftSteps}-{prompts}-{rewardSteps}-{noise.ToString(CultureInfo.InvariantCulture)}" +
            $"{(temperatures is [1.0] ? "" : "-t" + Temperatures(temperatures))}{(learningRate == DefaultRewardLearningRate ? "" : "-lr" + learningRate.ToString(CultureInfo.InvariantCulture))}.bin");

    /// <summary>The policy's rankings by a simulated annotator with <paramref name="noise"/>, and a reward model (not yet trained) from the policy's weights with a fresh score head.</summary>
    /// <param name="added">Rankings (of no held-out prompt) trained on beside the policy's, ranked again by this annotator.</param>
    /// <param name="freshInit">Random weights instead of the policy's.</param>
    internal static (ReferenceTrainer Reward, RankingDataset Rankings) RewardModel(
        ReferenceTrainer tuned, ModelVocabulary vocabulary, SampledTask[] tasks, double noise, int threads, int rewardSteps, double learningRate,
        IReadOnlyList<RankedCompletions>? added = null, double? weightDecay = null, int batchSize = 16, bool freshInit = false)
    {
        var annotator = new SimulatedAnnotator(PreferenceRule.Default, noise, seed: 8);
        var rankings = RankingDataset.Create(
            $"noise {noise}",
            [.. tasks.Select(t => new RankedCompletions(t.Id, t.Prompt, t.Completions, annotator.Rank(t.Id, t.Prompt, t.Completions))),
             .. (added ?? []).Select(r => r with { Order = annotator.Rank(r.Id, r.Prompt, r.Completions) })],
            vocabulary, tuned.Config.BlockSize, K);
        var options = TrainingPresets.Synthetic.Training with
        {
            Threads = threads, Steps = rewardSteps, Objective = ObjectiveKind.Reward, RankingCompletions = K, BatchSize = batchSize,
            LearningRate = learningRate, MinLearningRate = learningRate / 10, WarmupSteps = Math.Min(20, rewardSteps / 10), EvalInterval = 0,
            WeightDecay = weightDecay ?? TrainingPresets.Synthetic.Training.WeightDecay,
        };
        var reward = new ReferenceTrainer(tuned.Config, tuned.Data, options, rankings);
        if (!freshInit)
        {
            reward.LoadInitialParameters(tuned.Model.named_parameters().ToDictionary(p => p.name, p => (TensorIO.ToBytes(p.parameter), p.parameter.shape)));
        }

        return (reward, rankings);
    }

    /// <summary>The policy's samples of the ranking prompts, read from <paramref name="cache"/> when there.</summary>
    /// <param name="temperatures">
    /// The sampling temperatures of the ranked completions, completion j of a prompt at temperatures[j mod count] (1: the
    /// policy as it is; higher: more varied completions, fewer rule ties; lower: closer to the policy's best guess).
    /// </param>
    internal static SampledTask[] Tasks(ReferenceTrainer tuned, InstructionDataset instructions, int prompts, int pretrainSteps, int sftSteps, string? cache, IReadOnlyList<double> temperatures)
    {
        var at = temperatures is [1.0] ? "" : "-t" + Temperatures(temperatures);
        string Cached(int count) => Path.Combine(cache!, $"samples-g{SyntheticGrammar.Version}-{pretrainSteps}-{sftSteps}-{count}{at}.json");
        var samples = cache is null ? null : Cached(prompts);
        if (samples is not null && File.Exists(samples))
        {
            return System.Text.Json.JsonSerializer.Deserialize<SampledTask[]>(File.ReadAllText(samples))!;
        }

        // Prompt n's samples depend on n alone, so a smaller cached set is the start of this one.
        var start = cache is null || !Directory.Exists(cache) ? [] : Enumerable.Range(1, prompts - 1).Reverse().Select(Cached).Where(File.Exists)
            .Select(f => System.Text.Json.JsonSerializer.Deserialize<SampledTask[]>(File.ReadAllText(f))!).FirstOrDefault() ?? [];
        var tasks = start.Concat(Sample(tuned, instructions, start.Length, prompts, temperatures)).ToArray();
        if (samples is not null)
        {
            File.WriteAllText(samples, System.Text.Json.JsonSerializer.Serialize(tasks));
        }

        return tasks;
    }

    /// <summary>
    /// The ranking tasks from <paramref name="from"/> to <paramref name="prompts"/>: prompt n of the ranking stream and K
    /// completions of it sampled from the policy, on one worker per thread (each with its own copy of the policy, one
    /// torch thread each: at this size two sampling loops beat one loop on two threads). Prompt n's completions are drawn
    /// from seeds of n alone, so the workers' split changes nothing.
    /// </summary>
    private static SampledTask[] Sample(ReferenceTrainer policy, InstructionDataset data, int from, int prompts, IReadOnlyList<double> temperatures)
    {
        if (from >= prompts)
        {
            return [];
        }

        var corpus = new SyntheticCorpus(RankingPromptSeed);
        var workers = Math.Max(1, policy.Options.Threads);
        var copies = Enumerable.Range(0, workers).Select(w => w == 0 ? policy : Copy(policy)).ToArray();
        var tasks = new SampledTask[prompts - from];
        var (done, started) = (0, Stopwatch.GetTimestamp());
        var threads = policy.Options.Threads;
        torch.set_num_threads(1);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            for (var n = from + w; n < prompts; n += workers)
            {
                var prompt = corpus.Instruction(n).Instruction;
                tasks[n - from] = new SampledTask($"task-{n:D6}", prompt, [.. Enumerable.Range(0, K).Select(j => SftSuite.Respond(copies[w], data, prompt, new SamplingOptions(Temperature: temperatures[j % temperatures.Count], Seed: DeterministicRandom.Mix(RankingPromptSeed, n, j)), reserve: 1).Text)]); // room for the reward row's closing EOD
                var count = Interlocked.Increment(ref done);
                if (count % 200 == 0)
                {
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    Console.WriteLine($"  sampled {from + count} of {prompts} prompts x {K} in {elapsed.TotalSeconds:F0} s, about {elapsed.TotalSeconds / count * (prompts - from - count):F0} s to go");
                }
            }
        });
        torch.set_num_threads(threads);
        foreach (var copy in copies.Skip(1))
        {
            copy.Dispose();
        }

        return tasks;
    }

    private static ReferenceTrainer Copy(ReferenceTrainer trainer)
    {
        var copy = new ReferenceTrainer(trainer.Config, trainer.Data, trainer.Options);
        copy.Restore(trainer.SaveState(), trainer.Step);
        return copy;
    }

    /// <summary>
    /// <paramref name="count"/> built-in rankings (<see cref="RankingDataset.Synthetic"/>: the grammar's response to the
    /// prompt among responses to other instructions) whose prompts are not held out, so the held-out accuracy stays a
    /// measure on the policy's samples of prompts never trained on.
    /// </summary>
    private static IReadOnlyList<RankedCompletions> BuiltInRankings(ModelVocabulary vocabulary, int blockSize, int count) =>
        count == 0 ? [] : [.. RankingDataset.Synthetic(new SyntheticCorpus(RankingPromptSeed), vocabulary, blockSize, K, count, noise: 0, seed: 8).TrainRankings
            .Where(r => !InstructionDataset.IsHeldOut(r.Prompt))];

    /// <summary>
    /// One more ranking per training prompt whose last <paramref name="foreign"/> completions are samples of other
    /// training prompts (another entity, place or sense of "bank"): orders that completion-only features cannot explain,
    /// so the reward model must read the prompt. Held-out prompts' samples are never used.
    /// </summary>
    private static IReadOnlyList<RankedCompletions> MixedRankings(SampledTask[] tasks, int foreign)
    {
        if (foreign == 0)
        {
            return [];
        }

        var train = tasks.Where(t => !InstructionDataset.IsHeldOut(t.Prompt)).ToArray();
        return [.. train.Select((t, i) => new RankedCompletions(
            $"mixed-{t.Id}", t.Prompt,
            [.. t.Completions.Take(K - foreign), .. Enumerable.Range(1, foreign).Select(f => train[(i + (f * 7)) % train.Length].Completions[K - f])],
            [.. Enumerable.Range(0, K)]))];
    }

    /// <summary>
    /// A diagnostic, not ranking data a cluster would collect: for every completion of a training prompt that names the
    /// prompt's entity, one more ranking of it, the same text with the entity replaced by another of its kind (so the
    /// pronoun still fits: "the wolves" by "the lions", "Ben" by "Tom"), and two other samples of the prompt. The two
    /// differ by the name alone: whether the reward model can learn the identity test when the rankings isolate it.
    /// </summary>
    private static IReadOnlyList<RankedCompletions> ContrastRankings(SampledTask[] tasks)
    {
        var lexicon = SyntheticLexicon.Default;
        IReadOnlyList<string>[] kinds = [[.. lexicon.Animals.Select(a => a.Singular)], [.. lexicon.Animals.Select(a => a.Plural)], lexicon.FemaleNames, lexicon.MaleNames];
        var rankings = new List<RankedCompletions>();
        foreach (var task in tasks.Where(t => !InstructionDataset.IsHeldOut(t.Prompt)))
        {
            var words = task.Prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var (entity, kind) = words.Select(w => (w, kinds.FirstOrDefault(k => k.Contains(w)))).FirstOrDefault(x => x.Item2 is not null);
            if (entity is null)
            {
                continue;
            }

            for (var c = 0; c < K; c++)
            {
                var named = System.Text.RegularExpressions.Regex.IsMatch(task.Completions[c], $@"\b{entity}\b");
                if (!named)
                {
                    continue;
                }

                var other = kind![(kind.ToList().IndexOf(entity) + 1 + c) % kind.Count];
                var swapped = System.Text.RegularExpressions.Regex.Replace(task.Completions[c], $@"\b{entity}\b", other);
                rankings.Add(new RankedCompletions(
                    $"contrast-{task.Id}-{c}", task.Prompt,
                    [task.Completions[c], swapped, task.Completions[(c + 1) % K], task.Completions[(c + 2) % K]], [.. Enumerable.Range(0, K)]));
            }
        }

        return rankings;
    }

    internal sealed record SampledTask(string Id, string Prompt, string[] Completions);

    private static PairwiseAgreement Accuracy(ReferenceTrainer reward, RankingDataset rankings, Dictionary<string, double[]> truth) =>
        Accuracy(reward, rankings.ValidationRankings, truth, rankings.Vocabulary);

    private static PairwiseAgreement Accuracy(ReferenceTrainer reward, IEnumerable<RankedCompletions> rankings, Dictionary<string, double[]> truth, ModelVocabulary vocabulary) =>
        RewardScores.Agreement(rankings.Select(r =>
            ((IReadOnlyList<double>)RewardScores.Score(reward.Model, vocabulary, r.Prompt, r.Completions), (IReadOnlyList<double>)truth[r.Id])));

    /// <summary>
    /// Held-out accuracy over the pairs whose rule scores differ in exactly one of the rule's parts (named), and over
    /// those that differ in several: which of the rule's parts the reward model has learnt.
    /// </summary>
    private static IEnumerable<(string Part, PairwiseAgreement Agreement)> AccuracyByPart(ReferenceTrainer reward, RankingDataset rankings)
    {
        var tally = new SortedDictionary<string, (long Agreed, long Pairs)>(StringComparer.Ordinal);
        foreach (var r in rankings.ValidationRankings)
        {
            var scores = RewardScores.Score(reward.Model, rankings.Vocabulary, r.Prompt, r.Completions);
            var parts = r.Completions.Select(c => PreferenceRule.Default.Explain(r.Prompt, c)).ToArray();
            for (var i = 0; i < parts.Length; i++)
            {
                for (var j = i + 1; j < parts.Length; j++)
                {
                    var truth = parts[i].Total - parts[j].Total;
                    if (truth == 0)
                    {
                        continue;
                    }

                    var differing = parts[i].Parts.Zip(parts[j].Parts).Where(p => p.First.Points != p.Second.Points).Select(p => p.First.Part).ToArray();
                    var key = differing.Length == 1 ? "only " + differing[0] : "several parts";
                    if (differing is ["recall"])
                    {
                        // Which recall: by name (+2), by pronoun (+1) or forgotten (-1), the better first.
                        var (better, worse) = truth > 0 ? (parts[i].Recall, parts[j].Recall) : (parts[j].Recall, parts[i].Recall);
                        key = $"only recall, {RecallName(better)} over {RecallName(worse)}";
                    }

                    var (agreed, pairs) = tally.GetValueOrDefault(key);
                    tally[key] = (agreed + ((scores[i] - scores[j]) * truth > 0 ? 1 : 0), pairs + 1);
                }
            }
        }

        return tally.Select(t => (t.Key, new PairwiseAgreement(t.Value.Agreed, t.Value.Pairs)));
    }

    /// <summary>"1.5", or "0.7,1.5" when completions alternate between temperatures.</summary>
    internal static string Temperatures(IReadOnlyList<double> temperatures) => string.Join(",", temperatures.Select(t => t.ToString(CultureInfo.InvariantCulture)));

    private static string RecallName(double points) => points switch { 2 => "name", 1 => "pronoun", _ => "forgotten" };

    private static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}

/// <summary>What the reward suite trains and measures.</summary>
/// <param name="BuiltIn">Built-in rankings added to the policy's (0: the policy's only).</param>
/// <param name="WeightDecay">The reward model's weight decay (null: the preset's).</param>
/// <param name="Mixed">How many of each added ranking's K completions are other prompts' samples (0: none added).</param>
/// <param name="FreshInit">A reward model from random weights instead of the policy's: what the policy's features bring.</param>
/// <param name="RewardShape">A reward model of another width and depth, from a base of its own (pre-trained and fine-tuned as the policy was), or null: the policy's.</param>
internal sealed record RewardSuiteOptions(
    int PretrainSteps, int SftSteps, int Prompts, int Steps, double LearningRate, string? Cache, IReadOnlyList<double> Temperatures,
    IReadOnlyList<double> Noises, int BuiltIn, double? WeightDecay, int EvalEvery, int BatchSize = 16, int Mixed = 0, bool FreshInit = false, (int Width, int Layers)? RewardShape = null, bool Contrast = false);
