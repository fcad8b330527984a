using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Tests.Cluster;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Inference;

/// <summary>
/// A ranking task's completions are the version's samples at <see cref="RlhfOptions.RankingTemperature"/>: completion j
/// of task n equals the single-process model sampling task n's prompt at that temperature with the board's seed for
/// (n, j), up to the end-of-document token or <see cref="RlhfOptions.MaxCompletionTokens"/>.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RankingSamplingTests(ClusterFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task CreateTasks_SamplesAtTheRankingTemperature_AsTheSingleProcessModelDoes()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var options = new RlhfOptions(); // the cluster fixture's silos run with the defaults
        Assert.Equal(1.5, options.RankingTemperature);
        var tasks = await fixture.Grains.GetGrain<IRankingBoardGrain>(RankingNames.Board).CreateTasksAsync(2, 3, info.Name);

        var (model, vocabulary) = await PublishedModel.WholeModelAsync(fixture.Grains, info.Name);
        using (model)
        {
            foreach (var task in tasks)
            {
                var number = long.Parse(task.Id["task-".Length..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(new SyntheticCorpus(RankingBoardGrain.PromptSeed).Instruction(number).Instruction, task.Prompt);
                for (var j = 0; j < task.Completions.Count; j++)
                {
                    var sampling = new SamplingOptions(Temperature: options.RankingTemperature, Seed: DeterministicRandom.Mix(RankingBoardGrain.PromptSeed, number, j));
                    var expected = vocabulary.DecodeText(TextGenerator.Generate(model, vocabulary.EncodeText(task.Prompt), sampling, options.MaxCompletionTokens)
                        .Select(t => t.Id).TakeWhile(id => id != ModelVocabulary.EndOfDocument));
                    output.WriteLine($"{task.Id} completion {j}: '{task.Completions[j]}'");
                    Assert.Equal(expected, task.Completions[j]);
                }
            }

            // At temperature 1 the same seeds draw other completions: the setting is what the board samples with.
            var atOne = tasks.SelectMany(task => Enumerable.Range(0, task.Completions.Count).Select(j =>
                vocabulary.DecodeText(TextGenerator.Generate(model, vocabulary.EncodeText(task.Prompt),
                    new SamplingOptions(Temperature: 1.0, Seed: DeterministicRandom.Mix(RankingBoardGrain.PromptSeed, long.Parse(task.Id["task-".Length..], System.Globalization.CultureInfo.InvariantCulture), j)),
                    options.MaxCompletionTokens).Select(t => t.Id).TakeWhile(id => id != ModelVocabulary.EndOfDocument)))).ToList();
            Assert.NotEqual(atOne, tasks.SelectMany(t => t.Completions).ToList());
        }
    }
}
