using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// The reward model from rankings of the SFT policy's own samples: the policy of the sft suite (pre-training, then
/// SFT), K = 4 completions per ranking prompt sampled from it at temperature 1, ranked by simulated annotators (the
/// preference rule, noise-free and 20% noisy), a reward model (the policy's weights with a fresh score head) trained on
/// each set of rankings, and its pairwise accuracy against the noise-free rule on completions of held-out prompts.
/// All in the reference trainer, the one-stage, one-replica case of the stage grains' code (reward runs on the cluster
/// equal it step for step: SftEquivalenceTests).
/// </summary>
internal static class RewardSuite
{
    private const int K = 4;

    /// <summary>The cluster's ranking prompts come from this stream of the built-in corpus (the ranking board's seed).</summary>
    private const long RankingPromptSeed = 0x5EED_0008;

    public static void Run(
        List<(string, string, string)> results, int threads, int pretrainSteps, int sftSteps, int prompts, int rewardSteps, double learningRate, string? cache, double temperature = 1.0)
    {
        using var policy = Policy.Train(threads, pretrainSteps, sftSteps, 1e-3, (_, _) => 0, cache);
        var (tuned, vocabulary) = (policy.Tuned, policy.Instructions.Vocabulary);
        results.Add(("reward", "policy: pre-training + SFT steps, wall time", $"{pretrainSteps} + {sftSteps}, {policy.PretrainSeconds + policy.SftSeconds:F0} s{(policy.FromCache ? " (read from the cache)" : "")}"));

        var started = Stopwatch.GetTimestamp();
        var tasks = Tasks(tuned, policy.Instructions, prompts, pretrainSteps, sftSteps, cache, temperature);
        var samplingSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        results.Add(("reward", $"rankings: prompts x completions sampled (T = {temperature.ToString(CultureInfo.InvariantCulture)}), wall time", $"{prompts} x {K}, {samplingSeconds:F0} s"));
        var truth = tasks.ToDictionary(t => t.Id, t => t.Completions.Select(c => PreferenceRule.Default.Score(t.Prompt, c)).ToArray());
        var ties = tasks.Count(t => truth[t.Id].Distinct().Count() < K);
        results.Add(("reward", "rankings whose completions the rule scores with a tie", $"{ties} of {prompts}"));

        foreach (var noise in new[] { 0.0, 0.2 })
        {
            var (reward, rankings) = RewardModel(tuned, vocabulary, tasks, noise, threads, rewardSteps, learningRate);
            using var _ = reward;
            var before = Accuracy(reward, rankings, truth);
            started = Stopwatch.GetTimestamp();
            reward.Run();
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var after = Accuracy(reward, rankings, truth);
            var labels = RewardScores.Agreement(rankings.TrainRankings.Select(r =>
                ((IReadOnlyList<double>)[.. Enumerable.Range(0, K).Select(c => (double)(K - r.PlaceOf(c)))], (IReadOnlyList<double>)truth[r.Id])));
            var normalization = RewardScores.Normalization([.. rankings.TrainRankings.SelectMany(r => RewardScores.Score(reward.Model, vocabulary, r.Prompt, r.Completions))]);
            var name = noise == 0 ? "noise-free" : $"{noise:P0}-noisy";
            results.Add(("reward", $"{name}: rankings train / held-out prompts", $"{rankings.TrainRankings.Count} / {rankings.ValidationRankings.Count}"));
            results.Add(("reward", $"{name}: the labels' own pair agreement with the rule", F(labels.Accuracy, 3)));
            results.Add(("reward", $"{name}: steps x rows, lr, wall time", $"{rewardSteps} x 16, {learningRate.ToString(CultureInfo.InvariantCulture)}, {seconds:F0} s"));
            results.Add(("reward", $"{name}: held-out pairwise accuracy vs the rule, before / after", $"{F(before.Accuracy, 3)} / {F(after.Accuracy, 3)} ({after.Pairs} pairs)"));
            results.Add(("reward", $"{name}: training prompts' pairwise accuracy vs the rule, after", F(Accuracy(reward, rankings.TrainRankings, truth, rankings.Vocabulary).Accuracy, 3)));
            foreach (var (part, agreement) in AccuracyByPart(reward, rankings))
            {
                results.Add(("reward", $"{name}: held-out pairs told apart by {part}: accuracy", $"{F(agreement.Accuracy, 3)} ({agreement.Pairs} pairs)"));
            }
            results.Add(("reward", $"{name}: score normalisation on SFT samples (mean, std)", $"{F(normalization.Mean, 3)}, {F(normalization.Std, 3)}"));
        }
    }

    /// <summary>The policy's rankings by a simulated annotator with <paramref name="noise"/>, and a reward model (not yet trained) from the policy's weights with a fresh score head.</summary>
    internal static (ReferenceTrainer Reward, RankingDataset Rankings) RewardModel(
        ReferenceTrainer tuned, ModelVocabulary vocabulary, SampledTask[] tasks, double noise, int threads, int rewardSteps, double learningRate)
    {
        var annotator = new SimulatedAnnotator(PreferenceRule.Default, noise, seed: 8);
        var rankings = RankingDataset.Create(
            $"noise {noise}", [.. tasks.Select(t => new RankedCompletions(t.Id, t.Prompt, t.Completions, annotator.Rank(t.Id, t.Prompt, t.Completions)))],
            vocabulary, tuned.Config.BlockSize, K);
        var options = TrainingPresets.Synthetic.Training with
        {
            Threads = threads, Steps = rewardSteps, Objective = ObjectiveKind.Reward, RankingCompletions = K, BatchSize = 16,
            LearningRate = learningRate, MinLearningRate = learningRate / 10, WarmupSteps = Math.Min(20, rewardSteps / 10), EvalInterval = 0,
        };
        var reward = new ReferenceTrainer(tuned.Config, tuned.Data, options, rankings);
        reward.LoadInitialParameters(tuned.Model.named_parameters().ToDictionary(p => p.name, p => (TensorIO.ToBytes(p.parameter), p.parameter.shape)));
        return (reward, rankings);
    }

    /// <summary>The policy's samples of the ranking prompts, read from <paramref name="cache"/> when there.</summary>
    /// <param name="temperature">The sampling temperature of the ranked completions (1: the policy as it is; higher: more varied completions, fewer rule ties).</param>
    internal static SampledTask[] Tasks(ReferenceTrainer tuned, InstructionDataset instructions, int prompts, int pretrainSteps, int sftSteps, string? cache, double temperature = 1.0)
    {
        var at = temperature == 1.0 ? "" : "-t" + temperature.ToString(CultureInfo.InvariantCulture);
        var samples = cache is null ? null : Path.Combine(cache, $"samples-{pretrainSteps}-{sftSteps}-{prompts}{at}.json");
        if (samples is not null && File.Exists(samples))
        {
            return System.Text.Json.JsonSerializer.Deserialize<SampledTask[]>(File.ReadAllText(samples))!;
        }

        var tasks = Sample(tuned, instructions, prompts, temperature);
        if (samples is not null)
        {
            File.WriteAllText(samples, System.Text.Json.JsonSerializer.Serialize(tasks));
        }

        return tasks;
    }

    /// <summary>The ranking tasks: prompt n of the ranking stream and K completions of it sampled from the policy.</summary>
    private static SampledTask[] Sample(ReferenceTrainer policy, InstructionDataset data, int prompts, double temperature)
    {
        var corpus = new SyntheticCorpus(RankingPromptSeed);
        var started = Stopwatch.GetTimestamp();
        return [.. Enumerable.Range(0, prompts).Select(n =>
        {
            var prompt = corpus.Instruction(n).Instruction;
            if (n > 0 && n % 100 == 0)
            {
                var elapsed = Stopwatch.GetElapsedTime(started);
                Console.WriteLine($"  sampled {n} of {prompts} prompts x {K} in {elapsed.TotalSeconds:F0} s, about {elapsed.TotalSeconds / n * (prompts - n):F0} s to go");
            }

            return new SampledTask($"task-{n:D6}", prompt, [.. Enumerable.Range(0, K).Select(j => SftSuite.Respond(policy, data, prompt, new SamplingOptions(Temperature: temperature, Seed: DeterministicRandom.Mix(RankingPromptSeed, n, j)), reserve: 1).Text)]); // room for the reward row's closing EOD
        })];
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
                    var (agreed, pairs) = tally.GetValueOrDefault(key);
                    tally[key] = (agreed + ((scores[i] - scores[j]) * truth > 0 ? 1 : 0), pairs + 1);
                }
            }
        }

        return tally.Select(t => (t.Key, new PairwiseAgreement(t.Value.Agreed, t.Value.Pairs)));
    }

    private static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
