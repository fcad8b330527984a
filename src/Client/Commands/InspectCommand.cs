using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// <c>inspect attention|qkv|embeddings|next|lens|architecture</c>: the walkthrough's numbers from a version
/// (<c>--version</c>, default base) or a run's latest weights (<c>--live RUN</c>).
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var command = new Command("inspect", "Look inside a version or the live run: attention, Q/K/V, embeddings, next-token distribution, logit lens, architecture.");
        command.Subcommands.Add(Attention());
        command.Subcommands.Add(Qkv());
        command.Subcommands.Add(Embeddings());
        command.Subcommands.Add(Next());
        command.Subcommands.Add(Lens());
        command.Subcommands.Add(Architecture());
        return command;
    }

    private static Command Attention()
    {
        var (command, options, gateway) = New("attention", "Every layer's and head's attention weights (T x T) for a prompt.");
        var prompt = PromptArgument(command);
        command.SetCliAction((cli, ct) => RunAsync(cli, options, gateway, ct, g => g.AttentionAsync(cli.GetValue(prompt)!), view =>
        {
            var labels = view.Tokens.Select(t => Markup.Escape(GenerateCommand.Quote(t.Text))).ToArray();
            foreach (var head in view.Heads)
            {
                var table = new Table().Title($"layer {head.Layer}, head {head.Head}").AddColumn("token");
                foreach (var label in labels)
                {
                    table.AddColumn(label);
                }

                for (var i = 0; i < head.Weights.Length; i++)
                {
                    table.AddRow([labels[i], .. head.Weights[i].Select((w, j) => j > i ? "" : w.ToString("F2", CultureInfo.InvariantCulture))]);
                }

                cli.Console.Write(table);
            }
        }));
        return command;
    }

    private static Command Qkv()
    {
        var (command, options, gateway) = New("qkv", "Q, K, V of one token of one head: scores q.k, scaled by 1/sqrt(d), causal mask, softmax weights, output.");
        var layer = new Option<int>("--layer") { Description = "Layer (0-based)." };
        var head = new Option<int>("--head") { Description = "Head (0-based)." };
        var token = new Option<int?>("--token") { Description = "Token position (0-based; default the last)." };
        command.Options.Add(layer);
        command.Options.Add(head);
        command.Options.Add(token);
        var prompt = PromptArgument(command);
        command.SetCliAction(async (cli, ct) =>
        {
            var text = cli.GetValue(prompt)!;
            return await RunAsync(cli, options, gateway, ct,
                async g => await g.QkvAsync(text, cli.GetValue(layer), cli.GetValue(head), cli.GetValue(token) ?? (await g.TokenizeAsync(text)).Tokens.Count - 1),
                view =>
                {
                    cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                        $"layer {view.Layer}, head {view.Head}, token {view.Token} {Markup.Escape(GenerateCommand.Quote(view.Tokens[view.Token].Text))}: d = {view.HeadSize}, scale 1/sqrt(d) = {view.Scale:F4}"));
                    var table = new Table().AddColumns("j", "token", "q.k", "scaled", "masked", "weight");
                    for (var j = 0; j < view.RawScores.Length; j++)
                    {
                        table.AddRow(j.ToString(CultureInfo.InvariantCulture), Markup.Escape(GenerateCommand.Quote(view.Tokens[j].Text)),
                            view.RawScores[j].ToString("F4", CultureInfo.InvariantCulture), view.ScaledScores[j].ToString("F4", CultureInfo.InvariantCulture),
                            view.Masked[j] ? "yes" : "", view.Weights[j].ToString("F4", CultureInfo.InvariantCulture));
                    }

                    cli.Console.Write(table);
                    cli.Console.MarkupLine($"output (first 8 of {view.HeadSize}): {string.Join(" ", view.Output.Take(8).Select(v => v.ToString("F4", CultureInfo.InvariantCulture)))}");
                });
        });
        return command;
    }

    private static Command Embeddings()
    {
        var (command, options, gateway) = New("embeddings", "2D projection (PCA) of the lexicon's token embeddings with their categories, or --neighbours of a token.");
        var neighbours = new Option<string?>("--neighbours") { Description = "Show the nearest tokens of this one by cosine instead.", HelpName = "token" };
        var count = new Option<int>("--count") { Description = "How many neighbours.", DefaultValueFactory = _ => 10 };
        var snapshots = new Option<bool>("--snapshots") { Description = "With --live RUN: the snapshots the run kept while training (step 0, every eval interval, the end)." };
        command.Options.Add(neighbours);
        command.Options.Add(count);
        command.Options.Add(snapshots);
        command.SetCliAction(async (cli, ct) =>
        {
            if (cli.GetValue(snapshots))
            {
                return await SnapshotsAsync(cli, options, gateway, ct);
            }

            if (cli.GetValue(neighbours) is { } token)
            {
                return await RunAsync(cli, options, gateway, ct, g => g.NeighboursAsync(token, cli.GetValue(count)), list =>
                {
                    var table = new Table().AddColumns("token", "cosine", "category");
                    foreach (var n in list)
                    {
                        table.AddRow(Markup.Escape(GenerateCommand.Quote(n.Text)), n.Cosine.ToString("F3", CultureInfo.InvariantCulture), Markup.Escape(n.Category ?? ""));
                    }

                    cli.Console.Write(table);
                });
            }

            return await RunAsync(cli, options, gateway, ct, g => g.EmbeddingsAsync(), view =>
            {
                cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {view.Step}: {view.Points.Count} tokens, 2 axes keep {view.ExplainedVariance:P1} of the variance; nearest-neighbour category purity {view.CategoryPurity?.ToString("F3", CultureInfo.InvariantCulture) ?? "-"}"));
                var table = new Table().AddColumns("token", "group", "x", "y");
                foreach (var p in view.Points.OrderBy(p => p.Group, StringComparer.Ordinal))
                {
                    table.AddRow(Markup.Escape(GenerateCommand.Quote(p.Text)), Markup.Escape(p.Group ?? p.Category),
                        p.X.ToString("F3", CultureInfo.InvariantCulture), p.Y.ToString("F3", CultureInfo.InvariantCulture));
                }

                cli.Console.Write(table);
            });
        });
        return command;
    }

    /// <summary>The run's embeddings snapshots: one line per step with its purity, or every point with --json.</summary>
    private static async Task<int> SnapshotsAsync(CliContext cli, InferenceVerbOptions options, Option<string?> gateway, CancellationToken cancellationToken)
    {
        var runId = cli.GetValue(options.Live);
        if (string.IsNullOrWhiteSpace(runId))
        {
            throw new CliUsageException("--snapshots needs --live RUN: a run keeps the snapshots while it trains (a version has none).");
        }

        await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
        var run = connection.Client.GetGrain<ITrainingRunGrain>(runId.Trim());
        if ((await run.GetStatusAsync()).Phase == RunPhase.NotStarted)
        {
            throw new CliUsageException($"Run '{runId.Trim()}' has never started on this cluster: it has no snapshots.");
        }

        var views = await run.GetEmbeddingSnapshotsAsync();
        if (cli.Json)
        {
            cli.WriteJson(views);
            return ExitCodes.Success;
        }

        var table = new Table().AddColumns("step", "tokens", "variance kept", "category purity");
        foreach (var view in views)
        {
            table.AddRow(view.Step.ToString(CultureInfo.InvariantCulture), view.Points.Count.ToString(CultureInfo.InvariantCulture),
                view.ExplainedVariance.ToString("P1", CultureInfo.InvariantCulture), view.CategoryPurity?.ToString("F3", CultureInfo.InvariantCulture) ?? "-");
        }

        cli.Console.Write(table);
        cli.Console.MarkupLine("Every point of every snapshot: add --json (or GET /api/runs/{id}/embeddings on a silo).");
        return ExitCodes.Success;
    }

    private static Command Next()
    {
        var (command, options, gateway) = New("next", "The next-token distribution after a prompt, before and after temperature / top-k / top-p.");
        command.Options.Add(options.Temperature);
        command.Options.Add(options.TopK);
        command.Options.Add(options.TopP);
        command.Options.Add(options.Greedy);
        var top = TopOption(command, 10);
        var prompt = PromptArgument(command);
        command.SetCliAction((cli, ct) => RunAsync(cli, options, gateway, ct, g => g.NextTokenAsync(options.Request(cli, cli.GetValue(prompt)!), cli.GetValue(top)), view =>
        {
            var table = new Table().AddColumns("token", "model p", "after filters");
            foreach (var a in view.Before)
            {
                table.AddRow(Markup.Escape(GenerateCommand.Quote(a.Text)), a.Probability.ToString("P2", CultureInfo.InvariantCulture), a.SampledProbability.ToString("P2", CultureInfo.InvariantCulture));
            }

            cli.Console.Write(table);
            cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{view.Kept} of {view.VocabularySize} tokens keep a non-zero probability after the filters."));
        }));
        return command;
    }

    private static Command Lens()
    {
        var (command, options, gateway) = New("lens", "The logit lens: the top tokens the model would predict after each layer.");
        var position = new Option<int?>("--position") { Description = "Token position (0-based; default the last)." };
        command.Options.Add(position);
        var top = TopOption(command, 5);
        var prompt = PromptArgument(command);
        command.SetCliAction((cli, ct) => RunAsync(cli, options, gateway, ct, g => g.LensAsync(cli.GetValue(prompt)!, cli.GetValue(position), cli.GetValue(top)), view =>
        {
            cli.Console.MarkupLine($"after {Markup.Escape(GenerateCommand.Quote(view.Tokens[view.Position].Text))} (position {view.Position}):");
            var table = new Table().AddColumns("layer", "top predictions");
            foreach (var layer in view.Layers)
            {
                table.AddRow(layer.Layer.ToString(CultureInfo.InvariantCulture), Markup.Escape(string.Join("  ",
                    layer.Top.Select(t => string.Create(CultureInfo.InvariantCulture, $"{GenerateCommand.Quote(t.Text)} {t.Probability:P1}")))));
            }

            cli.Console.Write(table);
        }));
        return command;
    }

    private static Command Architecture()
    {
        var (command, options, gateway) = New("architecture", "A version's stages and layers, parameter counts, and the silo hosting each inference stage grain.");
        command.SetCliAction((cli, ct) => RunAsync(cli, options, gateway, ct, g => g.ArchitectureAsync(), view =>
        {
            cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"{Markup.Escape(view.Version)}: {view.Layers} layers x {view.Heads} heads x {view.Width} wide, context {view.Context}, vocabulary {view.VocabularySize}, {view.ParameterCount:N0} parameters"));
            var table = new Table().AddColumns("stage grain", "layers", "holds", "parameters", "silo", "sessions", "forwards");
            foreach (var s in view.Stages)
            {
                var holds = string.Join(" + ", new[] { s.HasEmbedding ? "embedding" : null, "blocks", s.HasHead ? "norm + head" : null }.OfType<string>());
                table.AddRow(Markup.Escape(s.GrainKey), string.Join(",", s.Layers), holds, s.ParameterCount.ToString("N0", CultureInfo.InvariantCulture),
                    Markup.Escape(s.Silo), s.Sessions.ToString(CultureInfo.InvariantCulture), s.Forwards.ToString(CultureInfo.InvariantCulture));
            }

            cli.Console.Write(table);
        }));
        return command;
    }

    private static (Command Command, InferenceVerbOptions Options, Option<string?> Gateway) New(string name, string description)
    {
        var options = new InferenceVerbOptions();
        var gateway = ClusterVerbOptions.CreateGateway();
        var command = new Command(name, description) { gateway, options.Version, options.Live };
        return (command, options, gateway);
    }

    private static Argument<string> PromptArgument(Command command)
    {
        var prompt = new Argument<string>("prompt") { Description = "The text to run through the model." };
        command.Arguments.Add(prompt);
        return prompt;
    }

    private static Option<int> TopOption(Command command, int defaultValue)
    {
        var top = new Option<int>("--top") { Description = "How many tokens to list.", DefaultValueFactory = _ => defaultValue };
        command.Options.Add(top);
        return top;
    }

    /// <summary>Connects, asks the inspector, and writes JSON or the human view; the grain's ArgumentException is a usage error.</summary>
    private static async Task<int> RunAsync<T>(
        CliContext cli, InferenceVerbOptions options, Option<string?> gateway, CancellationToken cancellationToken, Func<IInspectorGrain, Task<T>> ask, Action<T> show)
    {
        var source = options.Source(cli);
        await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
        T result;
        try
        {
            result = await ask(connection.Client.GetGrain<IInspectorGrain>(source));
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message, e);
        }

        if (cli.Json)
        {
            cli.WriteJson(result);
        }
        else
        {
            show(result);
        }

        return ExitCodes.Success;
    }
}
