"""The Telegram adapter (python-telegram-bot 22): turns updates into dialogue calls and replies into messages."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Poll,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.dialogue import Button, Dialogue, Incoming, Reply
from bot.dialogue.core import COMMANDS
from bot.dialogue.replies import PollSpec
from bot.webhook import run_webhook, webhook_secret

log = logging.getLogger(__name__)
ADMIN_MENU = [("reindex", "重建索引"), ("stats", "使用统计"), ("export", "导出记录"), ("quizstats", "测验统计")]
UNSUPPORTED = (
    (filters.Sticker.ALL, "贴纸"), (filters.PHOTO, "图片"), (filters.VOICE, "语音"), (filters.AUDIO, "音频"),
    (filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION, "视频"), (filters.LOCATION | filters.CONTACT, "这类消息"),
)


def _who(update: Update) -> Incoming:
    user = update.effective_user
    chat = update.effective_chat
    return Incoming(
        user_id=user.id if user else 0,
        name=user.full_name if user else "",
        username=(user.username or "") if user else "",
        chat_id=chat.id if chat else 0,
    )


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    return _markup_rows(reply.buttons)


def _markup_rows(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in rows])


async def send_reply(context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply | None) -> None:
    """Send a reply as one or more HTML messages (split at paragraphs), buttons on the last one."""
    if reply is None:
        return
    chunks = reply.html_chunks() if reply.blocks else []
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        await context.bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML,
                                       reply_markup=_markup(reply) if last else None)
    for attachment in reply.attachments:
        await context.bot.send_document(
            chat_id, InputFile(attachment.data, filename=attachment.filename), caption=attachment.caption or None,
        )
    if reply.poll is not None:
        await send_quiz_question(context, chat_id, reply.poll)


async def send_quiz_question(context: ContextTypes.DEFAULT_TYPE, chat_id: int, spec: PollSpec) -> None:
    """A quiz poll (single choice, true/false) or a message with tick buttons (multiple choice), plus its timer."""
    dialogue = _dialogue(context)
    if spec.multiple:
        await context.bot.send_message(chat_id, html.escape(spec.question + "（多选，选好后提交）"),
                                       parse_mode=ParseMode.HTML, reply_markup=_markup_rows(spec.toggle_buttons()))
    else:
        message = await context.bot.send_poll(
            chat_id, spec.question[:300], [o[:100] for o in spec.options], is_anonymous=False, type=Poll.QUIZ,
            correct_option_ids=list(spec.correct), explanation=spec.explanation[:200],
            open_period=spec.open_period,
        )
        await asyncio.to_thread(dialogue.quiz.remember_poll, message.poll.id, spec.attempt_id, spec.index, chat_id)
    if context.job_queue is not None:
        context.job_queue.run_once(on_quiz_timer, spec.open_period + 2, chat_id=chat_id,
                                   data=(spec.attempt_id, spec.index), name=f"quiz-{spec.attempt_id}-{spec.index}")


async def on_quiz_timer(context: ContextTypes.DEFAULT_TYPE) -> None:
    attempt_id, index = context.job.data
    reply = await asyncio.to_thread(_dialogue(context).on_quiz_timeout, attempt_id, index)
    await send_reply(context, context.job.chat_id, reply)


async def on_poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    answer = update.poll_answer
    dialogue = _dialogue(context)
    if dialogue.quiz is None or answer.user is None:
        return
    found = await asyncio.to_thread(dialogue.quiz.poll, answer.poll_id)
    if found is None:
        return
    attempt_id, index = found
    who = Incoming(answer.user.id, answer.user.full_name, answer.user.username or "", answer.user.id)
    # The quiz poll itself shows right or wrong and the explanation: no separate verdict message.
    reply = await asyncio.to_thread(dialogue.on_quiz_answer, who, attempt_id, index, list(answer.option_ids),
                                    0.0, False)
    await send_reply(context, answer.user.id, reply)


def _dialogue(context: ContextTypes.DEFAULT_TYPE) -> Dialogue:
    return context.application.bot_data["dialogue"]


async def _typing_while(context: ContextTypes.DEFAULT_TYPE, chat_id: int, work: Callable[[], Awaitable]) -> object:
    """Show 'typing…' while ``work`` runs (Telegram clears it after 5 s, so it is repeated)."""
    async def keep_typing() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError:
                pass
            await asyncio.sleep(4.5)

    typing = asyncio.create_task(keep_typing())
    try:
        return await work()
    finally:
        typing.cancel()


async def on_any_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs first: an update delivered twice is handled once."""
    dialogue = _dialogue(context)
    if not await asyncio.to_thread(dialogue.store.first_delivery, update.update_id):
        log.info("duplicate update %s ignored", update.update_id)
        raise ApplicationHandlerStop


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    text = update.effective_message.text or ""
    dialogue = _dialogue(context)
    reply = await _typing_while(context, who.chat_id, lambda: asyncio.to_thread(dialogue.on_text, who, text))
    await send_reply(context, who.chat_id, reply)  # type: ignore[arg-type]


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    text = update.effective_message.text or ""
    command, _, args = text.lstrip("/").partition(" ")
    dialogue = _dialogue(context)
    reply = await _typing_while(
        context, who.chat_id, lambda: asyncio.to_thread(dialogue.on_command, who, command, args)
    )
    await send_reply(context, who.chat_id, reply)  # type: ignore[arg-type]


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    who = _who(update)
    await query.answer()
    reply = await asyncio.to_thread(_dialogue(context).on_button, who, query.data or "")
    if reply.edit and query.message is not None:
        chunk = reply.html_chunks()[0]
        await query.edit_message_text(chunk, parse_mode=ParseMode.HTML, reply_markup=_markup(reply))
        return
    await send_reply(context, who.chat_id, reply)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    who = _who(update)
    document = update.effective_message.document
    loop = asyncio.get_running_loop()

    async def download() -> bytes:
        file = await document.get_file()
        return bytes(await file.download_as_bytearray())

    def fetch() -> bytes:
        return asyncio.run_coroutine_threadsafe(download(), loop).result(timeout=120)

    dialogue = _dialogue(context)
    reply = await _typing_while(context, who.chat_id, lambda: asyncio.to_thread(
        dialogue.on_document, who, document.file_name or "", document.file_size or 0, fetch))
    await send_reply(context, who.chat_id, reply)  # type: ignore[arg-type]


def _unsupported(what: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        await send_reply(context, who.chat_id, _dialogue(context).on_unsupported(who, what))

    return handler


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, "抱歉，处理您的消息时出错了，请稍后再试。")
        except TelegramError:
            log.warning("could not send the apology")


async def _post_init(application: Application) -> None:
    commands = [BotCommand(name, text) for name, text in COMMANDS]
    await application.bot.set_my_commands(commands, scope=BotCommandScopeDefault())
    dialogue: Dialogue = application.bot_data["dialogue"]
    admin = commands + [BotCommand(name, text) for name, text in ADMIN_MENU]
    for admin_id in dialogue.admin_ids:
        try:
            await application.bot.set_my_commands(admin, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:
            log.warning("could not set admin commands for %s: %s", admin_id, exc)


class RedactSecrets(logging.Filter):
    """Replaces secrets in every log record that passes a handler (PTB and httpx log URLs with the token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


def _redact_logs(settings: Settings) -> None:
    secrets = [settings.telegram_token, settings.webhook_secret, settings.llm_api_key]
    for handler in logging.getLogger().handlers:
        present = [f for f in handler.filters if isinstance(f, RedactSecrets)]
        if present:  # a handler already redacting (an earlier application) learns the new secrets too
            present[0].secrets = list(dict.fromkeys(present[0].secrets + [s for s in secrets if s]))
        else:
            handler.addFilter(RedactSecrets(secrets))
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_application(dialogue: Dialogue, settings: Settings) -> Application:
    """An Application wired to the dialogue; nothing is started."""
    _redact_logs(settings)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .concurrent_updates(True)
        .post_init(_post_init)
    )
    if settings.telegram_proxy:
        builder = builder.proxy(settings.telegram_proxy).get_updates_proxy(settings.telegram_proxy)
    if settings.rate_limit > 0:
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=settings.rate_limit, max_retries=2))
    application = builder.build()
    application.bot_data["dialogue"] = dialogue
    application.add_handler(TypeHandler(Update, on_any_update), group=-1)
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(PollAnswerHandler(on_poll_answer))
    application.add_handler(MessageHandler(filters.COMMAND, on_command))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(filters.Document.ALL, on_document))
    for message_filter, what in UNSUPPORTED:
        application.add_handler(MessageHandler(message_filter, _unsupported(what)))
    application.add_error_handler(on_error)
    return application


def resolve_webhook_secret(settings: Settings) -> Settings:
    """Settings whose webhook secret is checked, or generated when none is configured (webhook mode only).

    Raises :class:`bot.webhook.WebhookConfigError` (a message in Chinese) for a secret too short or with
    characters Telegram does not allow.
    """
    if not settings.webhook_url:
        return settings
    secret, generated = webhook_secret(settings.webhook_secret)
    if generated:
        log.warning("BOT_WEBHOOK_SECRET is empty: a random secret was generated and is registered with setWebhook")
    return replace(settings, webhook_secret=secret)


def run_bot(dialogue: Dialogue, settings: Settings) -> None:
    """Serve until interrupted: long polling, or a webhook (with a secret) when BOT_WEBHOOK_URL is set."""
    settings = resolve_webhook_secret(settings)
    application = build_application(dialogue, settings)
    if settings.webhook_url:
        log.info("webhook mode on %s:%s", settings.webhook_listen, settings.webhook_port)
        run_webhook(application, settings.webhook_url, settings.webhook_listen, settings.webhook_port,
                    settings.webhook_secret)
    else:
        log.info("long polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
