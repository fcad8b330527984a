using System.CommandLine;
using System.Globalization;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Client.Cluster;
using InsideLLMs.Distributed.Contracts.Inference;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>
/// <c>generate PROMPT</c>: streams tokens from a version's inference pipeline, one line per token with its probability
/// and the most likely alternatives; with --json one document with every token.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var gateway = ClusterVerbOptions.CreateGateway();
        var options = new InferenceVerbOptions();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 32 };
        var stop = new Option<string?>("--stop") { Description = "End after the token that completes this text.", HelpName = "text" };
        var prompt = new Argument<string>("prompt") { Description = "The text to continue." };
        var command = new Command("generate", "Generate text with a published version, token by token, with probabilities.")
        {
            gateway, options.Version, options.Temperature, options.TopK, options.TopP, options.Greedy, options.Seed, maxTokens, stop, prompt,
        };
        command.SetCliAction(async (cli, cancellationToken) =>
        {
            var version = options.VersionName(cli);
            var request = options.Request(cli, cli.GetValue(prompt) ?? "", cli.GetValue(maxTokens), cli.GetValue(stop));
            await using var connection = await ClusterVerbOptions.ConnectAsync(cli, gateway, cancellationToken);
            var session = InferenceNames.SessionKey(version, Guid.NewGuid().ToString("N"));
            var tokens = new List<GeneratedTokenInfo>();
            try
            {
                await foreach (var token in connection.Client.GetGrain<IGenerationGrain>(session).GenerateAsync(request).WithCancellation(cancellationToken))
                {
                    tokens.Add(token);
                    if (!cli.Json)
                    {
                        if (token.Index == 0)
                        {
                            cli.Console.MarkupLine($"[bold]{Markup.Escape(request.Prompt)}[/]"); // only now: bad input shows just its error
                        }

                        var alternatives = string.Join("  ", token.Alternatives.Take(3).Select(a => string.Create(CultureInfo.InvariantCulture, $"{Quote(a.Text)} {a.Probability:P1}")));
                        cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                            $"{token.Index,4} {Markup.Escape(Quote(token.Text)),-16} p={token.Probability:P1}  [grey]{Markup.Escape(alternatives)}[/]"));
                    }
                }
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message, e);
            }

            var text = string.Concat(tokens.Select(t => t.ModelId > 1 ? t.Text : ""));
            var result = new GenerationResult(version, request.Prompt, text, tokens.Count == 0 ? null : tokens[^1].FinishReason,
                tokens.Count == 0 ? 0 : tokens[0].ElapsedMilliseconds, tokens);
            if (cli.Json)
            {
                cli.WriteJson(result);
            }
            else
            {
                cli.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                    $"[bold]{Markup.Escape(request.Prompt)}[/]{Markup.Escape(text)}\n[grey]{tokens.Count} tokens, ended by {result.FinishReason}; first token after {result.FirstTokenMilliseconds:F0} ms[/]"));
            }

            return ExitCodes.Success;
        });
        return command;
    }

    internal static string Quote(string text) => "'" + text.Replace("\n", "\\n", StringComparison.Ordinal) + "'";
}

internal sealed record GenerationResult(
    string Version, string Prompt, string Text, string? FinishReason, double FirstTokenMilliseconds, IReadOnlyList<GeneratedTokenInfo> Tokens);
